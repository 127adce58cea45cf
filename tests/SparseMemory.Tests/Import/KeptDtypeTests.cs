using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data.Facts;
using SparseMemory.Model;
using SparseMemory.Runs;
using SparseMemory.Training;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace SparseMemory.Tests.Import;

/// <summary>
/// <c>smf import --dtype</c>: a checkpoint kept in bfloat16 or float16 is stored, loaded and computed in that dtype,
/// its logits stay close to the float32 import of the same weights, every verb that only reads it works, and what
/// would train its 16-bit weights is refused (docs/own-model.md#kept-dtypes).
/// </summary>
public sealed class KeptDtypeTests
{
    static readonly long[] Ids = [256, 5, 17, 100, 299, 3, 42, 42, 7, 200, 150, 1, 63, 64, 65, 120];

    static string Import(string src, string name, string? dtype)
    {
        string run = Path.Combine(Path.GetDirectoryName(src)!, name);
        var options = dtype is null ? new ImportConfig() : new ImportConfig { Dtype = dtype };
        HfImport.Run(src, run, options, _ => { });
        return run;
    }

    static Tensor Logits(LanguageModel model)
    {
        using var _ = torch.no_grad();
        return model.forward(torch.tensor(Ids).unsqueeze(0))[0];
    }

    /// <summary>
    /// The error of <paramref name="kept"/> against <paramref name="reference"/>, in units of <paramref name="u"/>:
    /// RMS of the difference over RMS of the reference, and largest |Δ| over largest |reference|.
    /// </summary>
    static (double Rms, double Max) Gap(Tensor kept, Tensor reference, double u)
    {
        var a = kept.to(ScalarType.Float64);
        var b = reference.to(ScalarType.Float64);
        double rms = (a - b).square().mean().sqrt().item<double>() / b.square().mean().sqrt().item<double>();
        double max = (a - b).abs().max().item<double>() / b.abs().max().item<double>();
        return (rms / u, max / u);
    }

    // Tolerances, in units of the 16-bit dtype's unit roundoff u (half the spacing of the significand): 2⁻⁸ ≈ 3.9e-3 for
    // bfloat16 (8 significant bits), 2⁻¹¹ ≈ 4.9e-4 for float16 (11). The kept model has exactly the float32 import's
    // weights (a 16-bit value is exact in float32, and the test checks it), so the whole gap is the rounding of
    // activations: between the embedding and the logits this 2-block model rounds each value about a dozen times
    // (q/k/v, rotation, attention output, o_proj, the residual sums, norms, gate/up, SwiGLU product, down_proj, logits),
    // and the random weights amplify what they receive, so a few u is expected. Measured over 8 random weight draws per
    // dtype: RMS gap 2.6–3.9u (bfloat16) and 2.9–3.5u (float16); the largest single logit 2.8–8.3u of the largest
    // logit. We allow about twice the worst: RMS 8u, largest 20u. A wrong tensor, a dropped bias or a lost cast is
    // O(1), hundreds of u. Whether the norms and the rotation are widened to float32 is below what logits can show;
    // Model/HalfPrecisionTests bounds those directly.
    const double RmsLimit = 8, MaxLimit = 20;

    public static TheoryData<string, string, string, ScalarType> Kept() => new()
    {
        { "llama-bf16", "source", "BF16", ScalarType.BFloat16 },
        { "llama-bf16", "bfloat16", "BF16", ScalarType.BFloat16 },
        { "qwen2-f16", "float16", "F16", ScalarType.Float16 },
        { "qwen2-f16", "source", "F16", ScalarType.Float16 },
    };

    static double UnitRoundoff(ScalarType t) => t == ScalarType.BFloat16 ? Math.Pow(2, -8) : Math.Pow(2, -11);

    [Theory]
    [MemberData(nameof(Kept))]
    public void A_kept_import_is_stored_loaded_and_computed_in_its_dtype(string spec, string dtype, string onDisk, ScalarType inMemory)
    {
        string src = HfFixture.Write(HfFixture.Spec(spec));
        string wide = Import(src, "f32", null), kept = Import(src, "kept", dtype);

        // On disk: every tensor in the kept dtype; the config records it as model.dtype (and the request as import.dtype).
        Assert.All(SafeTensors.ReadTensorInfo(Path.Combine(kept, Checkpoint.ModelFile)), t => Assert.Equal(onDisk, t.Dtype));
        Assert.All(SafeTensors.ReadTensorInfo(Path.Combine(wide, Checkpoint.ModelFile)), t => Assert.Equal("F32", t.Dtype));
        var tree = JsonNode.Parse(File.ReadAllText(Path.Combine(kept, Checkpoint.ConfigFile)))!;
        Assert.Equal(ModelDtypes.NameOf(inMemory), tree["model"]!["dtype"]!.GetValue<string>());
        Assert.Equal(dtype, tree["import"]!["dtype"]!.GetValue<string>());
        Assert.Equal(ModelDtypes.NameOf(inMemory), RunFolder.CompletedSummary<ImportSummary>(kept)!.Dtype);

        // In memory: every parameter in the kept dtype, with exactly the float32 import's values.
        var k = Checkpoint.Load(kept).Model;
        var w = Checkpoint.Load(wide).Model;
        Assert.Equal(inMemory, k.Dtype);
        var wideState = w.state_dict();
        foreach (var (name, t) in k.state_dict())
        {
            Assert.Equal(inMemory, t.dtype);
            Assert.True(t.to(ScalarType.Float32).eq(wideState[name]).all().item<bool>(), $"{name} differs from the float32 import");
        }

        // Logits: float32, close to the float32 import's.
        var kl = Logits(k);
        var wl = Logits(w);
        Assert.Equal(ScalarType.Float32, kl.dtype);
        double maxAbs = wl.abs().max().item<float>();
        Assert.True(maxAbs > 0.5, $"logits too small to test anything ({maxAbs})");
        var (rms, max) = Gap(kl, wl, UnitRoundoff(inMemory));
        Assert.True(rms < RmsLimit && max < MaxLimit, $"{spec} as {dtype}: RMS gap {rms:F1}u, largest {max:F1}u of the largest logit; allowed {RmsLimit}u and {MaxLimit}u");
        Assert.True(rms > 0, "the kept model computed exactly the float32 logits: it did not compute in 16 bits");

        // The training loss of a 16-bit model is the cross-entropy of its float32 logits.
        using var _ = torch.no_grad();
        var input = torch.tensor(Ids[..^1]).unsqueeze(0);
        var target = torch.tensor(Ids[1..]).unsqueeze(0);
        var loss = k.ForwardLoss(input, target, null, null);
        Assert.Equal(ScalarType.Float32, loss.dtype);
        Assert.Equal(LanguageModel.Loss(k.forward(input), target).item<float>(), loss.item<float>());
    }

    [Fact]
    public void Generation_on_a_kept_model_matches_its_plain_reference_and_runs_through_the_cli()
    {
        string src = HfFixture.Write(HfFixture.Spec("llama-bf16"));
        string kept = Import(src, "kept", "bfloat16");
        var model = Checkpoint.Load(kept).Model;
        int[][] prompts = [[256, 5, 17, 100], [256, 3], [256, 42, 42, 7, 200, 150, 1]];
        var opts = new SamplingOptions(MaxTokens: 6);
        // The KV cache holds bfloat16 keys and values; each step's logits must match the plain recomputation to
        // bfloat16 accuracy (the same tolerance as the import test: both paths round q, k and v to bfloat16 before the
        // float32 attention, but the matrix products see other shapes, so their summation order may differ).
        var cachedSteps = prompts.Select(_ => new List<Tensor>()).ToArray();
        var plainSteps = prompts.Select(_ => new List<Tensor>()).ToArray();
        void Record(List<Tensor>[] into, IReadOnlyList<int> rows, Tensor logits)
        {
            Assert.Equal(ScalarType.Float32, logits.dtype);
            for (int r = 0; r < rows.Count; r++) into[rows[r]].Add(logits[r].clone().DetachFromDisposeScope());
        }
        var cached = TextGenerator.GenerateIds(model, prompts, opts, null, null, 3, (rows, l) => Record(cachedSteps, rows, l));
        var plain = TextGenerator.GenerateIds(model, prompts, opts with { UseKvCache = false }, null, null, 3, (rows, l) => Record(plainSteps, rows, l));
        int compared = 0;
        for (int i = 0; i < prompts.Length; i++)
            for (int s = 0; s < opts.MaxTokens && cached[i].Take(s).SequenceEqual(plain[i].Take(s)); s++)
            {
                var (rms, max) = Gap(cachedSteps[i][s], plainSteps[i][s], UnitRoundoff(ScalarType.BFloat16));
                Assert.True(rms < RmsLimit && max < MaxLimit, $"prompt {i}, step {s}: cached and plain logits differ by {rms:F1}u (RMS), {max:F1}u (largest)");
                compared++;
            }
        Assert.True(compared >= prompts.Length * 2, $"only {compared} steps compared");
        using (torch.no_grad())
        {
            using var cache = new KvCache(1, 8);
            model.ForwardNext(torch.tensor(new long[] { 256, 5, 17 }).unsqueeze(0), cache);
            Assert.Equal(ScalarType.BFloat16, cache.Layer(0).Keys.dtype);             // the cache is kept in the model's dtype
        }

        var (code, output, err) = Smf.Run("generate", "--model", kept, "--prompt", "Ada lives in", "--max-tokens", "5");
        Assert.True(code == 0, err);
        Assert.False(string.IsNullOrWhiteSpace(output));
        string logits = Path.Combine(kept, "..", "logits.safetensors");
        (code, _, err) = Smf.Run("logits", "--model", kept, "--text", "Ada lives in Arden.", "--out", logits);
        Assert.True(code == 0, err);
        Assert.All(SafeTensors.ReadTensorInfo(logits).Where(t => t.Name == "logits"), t => Assert.Equal("F32", t.Dtype));
    }

    [Fact]
    public void The_default_is_float32_and_an_explicit_float32_writes_the_same_file()
    {
        string src = HfFixture.Write(HfFixture.Spec("llama-bf16"));
        string byDefault = Import(src, "default", null), explicitly = Import(src, "explicit", "float32");
        Assert.Equal(Checkpoint.Fingerprint(byDefault), Checkpoint.Fingerprint(explicitly));
        Assert.Equal(ModelConfig.Float32, Checkpoint.ReadModelConfig(byDefault).Model.Dtype);
        Assert.Equal(ScalarType.Float32, Checkpoint.Load(byDefault).Model.Dtype);
    }

    [Fact]
    public void An_unknown_dtype_is_one_line_naming_the_key_and_the_values_and_writes_nothing()
    {
        string src = HfFixture.Write(HfFixture.Spec("llama-bf16"));
        string run = Path.Combine(Path.GetDirectoryName(src)!, "run");
        foreach (string[] args in new[] { new[] { "--dtype", "fp8" }, ["--set", "import.dtype=bf16"] })
        {
            var (code, _, err) = Smf.Run(["import", "--from", src, "--out", run, .. args]);
            Assert.Equal(2, code);
            Assert.Single(err.Trim().Split('\n'));
            Assert.Contains("import.dtype", err);
            Assert.Contains("float32, bfloat16, float16, source", err);
            Assert.False(Directory.Exists(run));
        }
        var (mcode, _, merr) = Smf.Run("import", "--from", src, "--out", run, "--set", "model.dtype=bfloat16");
        Assert.Equal(2, mcode);
        Assert.Contains("--dtype", merr);
        Assert.False(Directory.Exists(run));

        // A run folder whose model.dtype was edited to something unknown is refused by every verb's loader.
        string kept = Import(src, "kept", "bfloat16");
        string cfgPath = Path.Combine(kept, Checkpoint.ConfigFile);
        File.WriteAllText(cfgPath, File.ReadAllText(cfgPath).Replace("\"dtype\": \"bfloat16\"", "\"dtype\": \"half\""));
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(kept));
        Assert.Contains("model.dtype is \"half\"", e.Message);
        Assert.Contains("float32, bfloat16, float16", e.Message);
    }

    [Fact]
    public void The_cli_option_reaches_the_run_folder()
    {
        string src = HfFixture.Write(HfFixture.Spec("qwen2-f16"));
        string run = Path.Combine(Path.GetDirectoryName(src)!, "run");
        var (code, output, err) = Smf.Run("import", "--from", src, "--out", run, "--dtype", "source");
        Assert.True(code == 0, err);
        Assert.Contains("written as float16", output);
        Assert.Equal("float16", Checkpoint.ReadModelConfig(run).Model.Dtype);
        Assert.Equal(ScalarType.Float16, Checkpoint.Load(run).Model.Dtype);
    }

    [Fact]
    public void Values_beyond_float16_are_refused_naming_the_tensor()
    {
        var spec = HfFixture.Spec("llama-untied");
        string src = HfFixture.Write(spec);
        var weights = HfFixture.Weights(spec);
        weights[0] = (weights[0].Name, weights[0].Tensor.clone().index_fill_(0, torch.tensor(new long[] { 3 }), 1e5f));
        SafeTensors.Save(Path.Combine(src, "model.safetensors"), weights);
        string run = Path.Combine(Path.GetDirectoryName(src)!, "run");
        var e = Assert.Throws<InvalidDataException>(() => HfImport.Run(src, run, new ImportConfig { Dtype = "float16" }, _ => { }));
        Assert.Contains("model.embed_tokens.weight", e.Message);
        Assert.Contains("beyond the range of float16", e.Message);
        Assert.Contains("--dtype bfloat16", e.Message);
        HfImport.Run(src, Path.Combine(Path.GetDirectoryName(src)!, "bf16"), new ImportConfig { Dtype = "bfloat16" }, _ => { });   // bfloat16 holds it
    }

    [Fact]
    public void Finetuning_16_bit_weights_is_refused_and_pretraining_in_16_bits_too()
    {
        string src = HfFixture.Write(HfFixture.Spec("llama-bf16"));
        string kept = Import(src, "kept", "bfloat16");
        string facts = WriteFacts(Path.GetDirectoryName(src)!);
        foreach (string method in new[] { "full", "lora" })
        {
            string outDir = Path.Combine(Path.GetDirectoryName(src)!, "ft-" + method);
            var (code, _, err) = Smf.Run("finetune", "--model", kept, "--method", method, "--data", facts, "--steps", "1", "--out", outDir, "--set", "probes=[]");
            Assert.Equal(2, code);
            Assert.Contains("bfloat16 (model.dtype)", err);
            Assert.Contains("--dtype float32", err);
            Assert.False(Directory.Exists(outDir));
        }
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load<PretrainConfig>("tiny", sets: ["model.dtype=bfloat16"], validate: c => c.Validate()));
        Assert.Contains("pretraining trains float32 weights only", e.Message);
    }

    [Fact]
    public async Task Retrofit_keeps_the_memory_in_float32_and_sparse_finetuning_and_serve_train_it()
    {
        string src = HfFixture.Write(HfFixture.Spec("llama-bf16"));
        string root = Path.GetDirectoryName(src)!;
        string kept = Import(src, "kept", "bfloat16");
        string retro = Path.Combine(root, "retro"), tuned = Path.Combine(root, "tuned");
        string corpus = Fixtures.WriteCorpus(root).Replace("\\", "/");
        var (code, _, err) = Smf.Run("retrofit", "--model", kept, "--memory-layers", "1", "--slots", "1024", "--preset", "tiny",
            "--set", "heal.steps=3", "--set", "background.batches=4", "--set", $"data.corpus=[\"{corpus}\"]", "--out", retro);
        Assert.True(code == 0, err);
        var info = SafeTensors.ReadTensorInfo(Path.Combine(retro, Checkpoint.ModelFile));
        Assert.All(info, t => Assert.Equal(Retrofit.IsMemoryParameter(t.Name) ? "F32" : "BF16", t.Dtype));
        Assert.Contains(info, t => t.Name == "memory_values.weight");

        // Healing left the bfloat16 backbone as it was.
        var before = Checkpoint.Load(kept).Model.state_dict();
        var after = Checkpoint.Load(retro).Model.state_dict();
        foreach (var (name, t) in before) Assert.True(t.eq(after[name]).all().item<bool>(), $"backbone tensor {name} moved while healing");

        string facts = WriteFacts(root);
        (code, _, err) = Smf.Run("finetune", "--model", retro, "--method", "sparse", "--top-t", "5", "--lr", "5", "--data", facts, "--steps", "2",
            "--out", tuned, "--set", "data.paraphrases=4", "--set", "probes=[]");
        Assert.True(code == 0, err);
        var changed = Checkpoint.Load(tuned).Model.state_dict();
        Assert.False(after["memory_values.weight"].eq(changed["memory_values.weight"]).all().item<bool>(), "sparse finetuning did not move the value table");
        foreach (var (name, t) in before) Assert.True(t.eq(changed[name]).all().item<bool>(), $"backbone tensor {name} moved while finetuning");
        var (gcode, gout, gerr) = Smf.Run("generate", "--model", tuned, "--prompt", "Ada lives in", "--max-tokens", "4");
        Assert.True(gcode == 0, gerr);
        Assert.False(string.IsNullOrWhiteSpace(gout));

        // Served: a learn moves only float32 memory rows of the bfloat16 model, it answers, and undo restores the rows.
        await using var host = await Tests.Serve.ServeHost.StartAsync(new SparseMemory.Runs.Serve.ServeOptions
        {
            ModelDir = retro, StateDir = Path.Combine(root, "state"), Token = Tests.Serve.ServeFixture.Token, Paraphrases = 4, CheckpointEvery = 0, TopT = 5,
        });
        var values = host.Service.SnapshotValues();
        long id = await host.LearnAsync("Bela lives in Yelm.");
        Assert.False(values.eq(host.Service.SnapshotValues()).all().item<bool>(), "a served learn did not move the value table");
        var (status, json) = await host.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 4 });
        Assert.True(status == 200, json?.ToJsonString());
        (status, json) = await host.PostAsync($"/undo/{id}");
        Assert.True(status == 200, json?.ToJsonString());
        Assert.True(values.eq(host.Service.SnapshotValues()).all().item<bool>(), "undo did not restore the value table");
    }

    static string WriteFacts(string dir)
    {
        string facts = Path.Combine(dir, "facts.jsonl");
        string[] people = ["Ada", "Bela", "Cyril"], towns = ["Zorn", "Yelm", "Xant"];
        DataFiles.WriteFacts(facts, people.Select((p, i) => new Fact($"f{i}", p, "home", towns[i], [towns[i]], $"Where does {p} live?",
            [$"{p} lives in {towns[i]}.", $"The home of {p} is {towns[i]}."], "test")));
        return facts;
    }
}
