using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Data;
using SparseMemory.Model;
using SparseMemory.Runs;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace SparseMemory.Tests.Import;

/// <summary>
/// <c>smf import</c> on tiny random checkpoints written in every supported naming scheme and layout: the imported
/// model's logits against <see cref="ReferenceDecoder"/>, refusals, and the run folder through the CLI.
/// </summary>
public sealed class ImportTests
{
    static readonly long[] Ids = [5, 17, 256, 100, 299, 3, 42, 42, 7, 200, 150, 1, 63, 64, 65, 120];

    public static TheoryData<string> SpecNames() => new(HfFixture.Specs.Select(s => s.Name));

    static Dictionary<string, Tensor> ReadAll(string dir)
    {
        var all = new Dictionary<string, Tensor>();
        foreach (string f in Directory.GetFiles(dir, "*.safetensors"))
            foreach (var (k, v) in SafeTensors.Load(f).Tensors) all[k] = v;
        return all;
    }

    [Theory]
    [MemberData(nameof(SpecNames))]
    public void Imported_logits_match_the_plain_reference(string name)
    {
        var spec = HfFixture.Spec(name);
        string src = HfFixture.Write(spec);
        string run = Path.Combine(Path.GetDirectoryName(src)!, "run");
        var summary = HfImport.Run(src, run, 4096, _ => { });
        Assert.Equal(spec.Architecture, summary.Architecture);
        Assert.Equal(spec.Dtype, summary.SourceDtype);

        var loaded = Checkpoint.Load(run);
        Assert.Equal(HfFixture.MaxPositions, loaded.Model.Config.MaxSeqLen);
        // The header check before writing predicts exactly the model's state dict.
        var shapes = HfImport.ExpectedShapes(loaded.Model.Config);
        var state = loaded.Model.state_dict();
        Assert.Equal(shapes.Keys.Order(), state.Keys.Order());
        foreach (var (k, v) in state) Assert.Equal(shapes[k], v.shape);
        double[,] expected = ReferenceDecoder.Logits(ReadAll(src), JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!.AsObject(), Ids);
        using var _ = torch.no_grad();
        var logits = loaded.Model.forward(torch.tensor(Ids).unsqueeze(0))[0].to(ScalarType.Float64).contiguous().data<double>().ToArray();
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < Ids.Length; i++)
            for (int j = 0; j < HfFixture.Vocab; j++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(logits[i * HfFixture.Vocab + j] - expected[i, j]));
                maxAbs = Math.Max(maxAbs, Math.Abs(expected[i, j]));
            }
        Assert.True(maxAbs > 0.5, $"logits too small to test anything ({maxAbs})");
        Assert.True(maxDiff < 1e-5, $"{name}: max |Δ| {maxDiff:E2} against the reference (largest logit {maxAbs:F2})");
    }

    [Fact]
    public void A_wrong_rope_scaling_would_be_caught_by_the_reference()
    {
        // The same llama3 checkpoint read without its rope_scaling must differ from the reference: the test can fail.
        var spec = HfFixture.Spec("llama3-scaling-gqa");
        string src = HfFixture.Write(spec);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!.AsObject();
        var withScaling = ReferenceDecoder.Logits(ReadAll(src), cfg, Ids);
        cfg.Remove("rope_scaling");
        var without = ReferenceDecoder.Logits(ReadAll(src), cfg, Ids);
        double diff = 0;
        for (int i = 0; i < Ids.Length; i++) for (int j = 0; j < HfFixture.Vocab; j++) diff = Math.Max(diff, Math.Abs(withScaling[i, j] - without[i, j]));
        Assert.True(diff > 1e-3, $"rope scaling changes logits by only {diff:E2}; the checkpoint does not exercise it");
    }

    [Fact]
    public void Cached_generation_equals_the_reference_decoder_with_grouped_queries()
    {
        string src = HfFixture.Write(HfFixture.Spec("llama3-scaling-gqa"));
        string run = Path.Combine(Path.GetDirectoryName(src)!, "run");
        HfImport.Run(src, run, 4096, _ => { });
        var model = Checkpoint.Load(run).Model;
        int[][] prompts = [[256, 5, 17, 100], [256, 3], [256, 42, 42, 7, 200, 150, 1]];
        var opts = new SamplingOptions(MaxTokens: 10);
        var cached = TextGenerator.GenerateIds(model, prompts, opts, null, null, 3);
        var plain = TextGenerator.GenerateIds(model, prompts, opts with { UseKvCache = false }, null, null, 3);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(plain[i], cached[i]);
    }

    [Fact]
    public void Special_tokens_and_chat_template_are_kept()
    {
        string src = HfFixture.Write(HfFixture.Spec("llama-tied"));
        string run = Path.Combine(Path.GetDirectoryName(src)!, "run");
        HfImport.Run(src, run, 4096, _ => { });
        var tok = Assert.IsType<HfTokenizer>(Checkpoint.Load(run).Tokenizer);
        Assert.Equal(256, tok.EosId);
        Assert.Equal(256, tok.BosId);                         // the template post-processor prepends it: add_bos inferred
        Assert.Contains("messages", tok.Info.ChatTemplate);
        Assert.Equal([256, .. tok.Encode("Ada lives")], tok.EncodePrompt("Ada lives"));

        string qsrc = HfFixture.Write(HfFixture.Spec("qwen2-f16"));
        string qrun = Path.Combine(Path.GetDirectoryName(qsrc)!, "run");
        HfImport.Run(qsrc, qrun, 4096, _ => { });
        Assert.Null(Checkpoint.Load(qrun).Tokenizer.BosId);  // no post-processor: no BOS
    }

    /// <summary>
    /// eos_token_id as a list (docs/own-model.md#end-of-sequence-ids): config.json's list is kept whole, and
    /// generation_config.json's, when present, replaces it. Generation stops at the list's second id: the id is picked
    /// from the model's own greedy continuation, so without the list the same call runs past it.
    /// </summary>
    [Fact]
    public void Every_eos_id_is_kept_generation_config_wins_and_generation_stops_at_the_second()
    {
        string src = HfFixture.Write(HfFixture.Spec("llama-untied"), c => c["eos_token_id"] = new JsonArray(256, 7));
        string root = Path.GetDirectoryName(src)!;
        string run = Path.Combine(root, "run");
        HfImport.Run(src, run, 4096, _ => { });
        var first = Checkpoint.Load(run);
        Assert.Equal([256, 7], first.Tokenizer.EosIds);
        Assert.Equal(256, first.Tokenizer.EosId);
        const string prompt = "Ada lives in";
        var free = TextGenerator.GenerateIds(first.Model, [first.Tokenizer.EncodePrompt(prompt)], new SamplingOptions(MaxTokens: 12, StopAtEos: false))[0];
        int cut = Enumerable.Range(1, free.Length - 1).First(i => !free[..(i + 1)].Intersect([256, 7]).Any() && !free[..i].Contains(free[i]));
        int second = free[cut];

        File.WriteAllText(Path.Combine(src, "generation_config.json"), new JsonObject { ["eos_token_id"] = new JsonArray(256, second, 256) }.ToJsonString());
        string run2 = Path.Combine(root, "run2");
        HfImport.Run(src, run2, 4096, _ => { });
        var loaded = Checkpoint.Load(run2);
        var tok = Assert.IsType<HfTokenizer>(loaded.Tokenizer);
        Assert.Equal([256, second], tok.EosIds);              // generation_config.json replaces config.json's [256, 7]; repeats dropped
        Assert.Equal(256, tok.EosId);
        Assert.Equal([256, second], tok.Info.EosIds!);
        var o = new SamplingOptions(MaxTokens: 12);
        foreach (bool cache in new[] { true, false })
        {
            Assert.Equal(free[..cut], TextGenerator.GenerateIds(loaded.Model, [tok.EncodePrompt(prompt)], o with { UseKvCache = cache }, tok.EosIds)[0]);
            Assert.Equal(free, TextGenerator.GenerateIds(loaded.Model, [tok.EncodePrompt(prompt)], o with { UseKvCache = cache }, [tok.EosId])[0]);
        }
        Assert.Equal(tok.Decode(free[..cut]), TextGenerator.Generate(loaded.Model, tok, prompt, o));
        var (code, output, err) = Smf.Run("generate", "--model", run2, "--prompt", prompt, "--max-tokens", "12");
        Assert.True(code == 0, err);
        Assert.Equal(tok.Decode(free[..cut]), output.TrimEnd('\n'));

        // One id in generation_config.json is a list of one; a bad entry or an id outside the vocabulary is refused.
        File.WriteAllText(Path.Combine(src, "generation_config.json"), """{"eos_token_id": 7}""");
        HfImport.Run(src, Path.Combine(root, "run3"), 4096, _ => { });
        Assert.Equal([7], Checkpoint.Load(Path.Combine(root, "run3")).Tokenizer.EosIds);
        File.WriteAllText(Path.Combine(src, "generation_config.json"), """{"eos_token_id": [256, "x"]}""");
        var e = Assert.Throws<InvalidDataException>(() => HfImport.Inspect(src));
        Assert.Contains("generation_config.json: eos_token_id[1] is \"x\"", e.Message);
        File.WriteAllText(Path.Combine(src, "generation_config.json"), """{"eos_token_id": [256, 5000]}""");
        e = Assert.Throws<InvalidDataException>(() => HfImport.Inspect(src));
        Assert.Contains("generation_config.json: eos_token_id 5000 is outside the vocabulary", e.Message);
    }

    /// <summary>
    /// <c>smf generate --chat</c> (docs/own-model.md#chat-templates): the prompt as one user message through the model's
    /// template, encoded without an added BOS as Hugging Face does; without a template, the plain transcript, which is
    /// the same as passing that transcript as the prompt; an unsupported template is one error line naming the construct.
    /// </summary>
    [Fact]
    public void Generate_chat_uses_the_template_or_the_plain_transcript()
    {
        string src = HfFixture.Write(HfFixture.Spec("llama-untied"));
        string run = Path.Combine(Path.GetDirectoryName(src)!, "run");
        HfImport.Run(src, run, 4096, _ => { });
        var loaded = Checkpoint.Load(run);
        var tok = Assert.IsType<HfTokenizer>(loaded.Tokenizer);
        Assert.Equal("{% for m in messages %}{{ m['content'] }}{% endfor %}", tok.Info.ChatTemplate);
        const string prompt = "Ada lives in";
        var ids = TextGenerator.GenerateIds(loaded.Model, [tok.Encode(prompt)], new SamplingOptions(MaxTokens: 6), tok.EosIds)[0];
        var (code, output, err) = Smf.Run("generate", "--model", run, "--prompt", prompt, "--max-tokens", "6", "--chat");
        Assert.True(code == 0, err);
        Assert.Equal(tok.Decode(ids), output.TrimEnd('\n'));
        var (_, withBos, _) = Smf.Run("generate", "--model", run, "--prompt", prompt, "--max-tokens", "6");
        Assert.Equal(tok.Decode(TextGenerator.GenerateIds(loaded.Model, [tok.EncodePrompt(prompt)], new SamplingOptions(MaxTokens: 6), tok.EosIds)[0]), withBos.TrimEnd('\n'));
        Assert.NotEqual(withBos, output);                    // the BOS that plain generation adds changes the text, so the check above can fail

        string infoPath = Path.Combine(run, Checkpoint.TokenizerInfoFile);
        RunFolder.SaveConfig(tok.Info with { ChatTemplate = null }, infoPath);
        var (pcode, plain, perr) = Smf.Run("generate", "--model", run, "--prompt", prompt, "--max-tokens", "6", "--chat");
        Assert.True(pcode == 0, perr);
        var (_, transcript, _) = Smf.Run("generate", "--model", run, "--prompt", "User: Ada lives in\nAssistant:", "--max-tokens", "6");
        Assert.Equal(transcript, plain);

        RunFolder.SaveConfig(tok.Info with { ChatTemplate = "{% macro m() %}{% endmacro %}" }, infoPath);
        var (ucode, _, uerr) = Smf.Run("generate", "--model", run, "--prompt", prompt, "--chat");
        Assert.Equal(2, ucode);
        Assert.Single(uerr.Trim().Split('\n'));
        Assert.Contains("tokenizer_info.json: --chat: the model's chat template cannot be used: line 1: the statement '{% macro %}' is not supported", uerr);
    }

    [Fact]
    public void A_second_run_says_it_is_complete_and_a_context_cap_is_kept()
    {
        string src = HfFixture.Write(HfFixture.Spec("mistral-gqa"));
        string run = Path.Combine(Path.GetDirectoryName(src)!, "run");
        HfImport.Run(src, run, 32, _ => { });
        Assert.Equal(32, Checkpoint.Load(run).Model.Config.MaxSeqLen);
        var messages = new List<string>();
        HfImport.Run(src, run, 32, messages.Add);
        Assert.Contains(messages, m => m.Contains("already complete"));
        var (code, _, err) = Smf.Run("import", "--from", src, "--out", run, "--max-seq-len", "16");
        Assert.Equal(2, code);
        Assert.Contains("different config", err);
    }

    public static TheoryData<string, string, string[]> Refusals() => new()
    {
        { "architecture", "llama-tied", ["architectures[0] is \"GPT2LMHeadModel\"", "LlamaForCausalLM"] },
        { "sliding_window", "mistral-gqa", ["sliding_window is 16", "--max-seq-len 16"] },
        { "qwen_window", "qwen2-f16", ["sliding_window is 32", "--max-seq-len 32"] },
        { "rope_scaling", "llama-tied", ["rope_scaling.rope_type is yarn", "llama3"] },
        { "missing_shard", "llama-sharded", ["model-00002-of-00003.safetensors", "missing"] },
        { "dtype", "llama-bf16", ["is F16", "BF16", "dtype mismatch"] },
        { "torch_dtype", "llama-tied", ["torch_dtype is \"int8\""] },
        { "tokenizer_model", "llama-tied", ["model.type is \"WordPiece\"", "BPE"] },
        { "missing_tensor", "llama-untied", ["lm_head.weight"] },
        { "unexpected_tensor", "llama-tied", ["unexpected tensor model.layers.0.self_attn.o_proj.bias"] },
        { "attention_bias", "llama-tied", ["attention_bias is true"] },
        { "activation", "llama-tied", ["hidden_act is gelu"] },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Unsupported_input_is_refused_in_one_line_and_nothing_is_written(string what, string specName, string[] expected)
    {
        var spec = HfFixture.Spec(specName);
        Action<JsonObject>? edit = what switch
        {
            "architecture" => c => c["architectures"] = new JsonArray("GPT2LMHeadModel"),
            "sliding_window" => c => c["sliding_window"] = 16,
            "qwen_window" => c => c["use_sliding_window"] = true,
            "rope_scaling" => c => c["rope_scaling"] = new JsonObject { ["type"] = "yarn", ["factor"] = 4.0 },
            "torch_dtype" => c => c["torch_dtype"] = "int8",
            "attention_bias" => c => c["attention_bias"] = true,
            "activation" => c => c["hidden_act"] = "gelu",
            _ => null,
        };
        string src = HfFixture.Write(spec, edit);
        switch (what)
        {
            case "missing_shard": File.Delete(Path.Combine(src, "model-00002-of-00003.safetensors")); break;
            case "dtype":
            {
                var w = HfFixture.Weights(spec);
                w[3] = (w[3].Name, w[3].Tensor.to(ScalarType.Float16));
                SafeTensors.Save(Path.Combine(src, "model.safetensors"), w);
                break;
            }
            case "tokenizer_model":
            {
                string p = Path.Combine(src, "tokenizer.json");
                var j = JsonNode.Parse(File.ReadAllText(p))!.AsObject();
                j["model"]!["type"] = "WordPiece";
                File.WriteAllText(p, j.ToJsonString());
                break;
            }
            case "missing_tensor":
                SafeTensors.Save(Path.Combine(src, "model.safetensors"), HfFixture.Weights(spec).Where(x => x.Name != "lm_head.weight"));
                break;
            case "unexpected_tensor":
                SafeTensors.Save(Path.Combine(src, "model.safetensors"), HfFixture.Weights(spec).Append(("model.layers.0.self_attn.o_proj.bias", torch.zeros(HfFixture.Dim))));
                break;
        }
        string run = Path.Combine(Path.GetDirectoryName(src)!, "run");
        var (code, _, err) = Smf.Run("import", "--from", src, "--out", run);
        Assert.Equal(2, code);
        Assert.StartsWith("error: ", err);
        Assert.Single(err.Trim().Split('\n'));
        foreach (string e in expected) Assert.Contains(e, err);
        bool written = Directory.Exists(run) && (File.Exists(Path.Combine(run, "model.safetensors")) || File.Exists(Path.Combine(run, "summary.json")));
        Assert.False(written, $"{what}: the refused import wrote {run}");
    }

    [Fact]
    public void Import_then_every_verb_reads_the_run_folder()
    {
        string src = HfFixture.Write(HfFixture.Spec("llama-untied"));
        string run = Path.Combine(Path.GetDirectoryName(src)!, "run");
        var (code, output, err) = Smf.Run("import", "--from", src, "--out", run);
        Assert.True(code == 0, err);
        Assert.Contains("LlamaForCausalLM", output);
        Assert.Contains("shard 1/1", err);
        var (gcode, gout, gerr) = Smf.Run("generate", "--model", run, "--prompt", "Ada lives in", "--max-tokens", "5");
        Assert.True(gcode == 0, gerr);
        Assert.False(string.IsNullOrWhiteSpace(gout));
        string logits = Path.Combine(run, "..", "logits.safetensors");
        var (lcode, _, lerr) = Smf.Run("logits", "--model", run, "--text", "Ada lives in Arden.", "--out", logits);
        Assert.True(lcode == 0, lerr);
        var (hcode, hout, _) = Smf.Run("import", "--help");
        Assert.Equal(0, hcode);
        Assert.Contains("--max-seq-len", hout);
    }
}
