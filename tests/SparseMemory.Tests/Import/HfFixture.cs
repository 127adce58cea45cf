using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Import;

/// <summary>One naming scheme / layout of a tiny random Hugging Face checkpoint written by the tests.</summary>
public sealed record HfSpec(string Name, string Architecture, bool Tied = false, int KvHeads = 4, string Dtype = "F32", int Shards = 1,
    bool Llama3Scaling = false, int? HeadDim = null, double Eps = 1e-6, double Theta = 10000.0)
{
    public override string ToString() => Name;
}

/// <summary>
/// Writes tiny random checkpoints in the Hugging Face layout (config.json, safetensors with HF tensor names, optionally
/// sharded with an index, tokenizer.json + tokenizer_config.json). The tokenizer is a native byte-level BPE trained on
/// the test corpus and saved in the HF format; Llama-style specs add a template post-processor that prepends BOS.
/// </summary>
internal static class HfFixture
{
    public const int Vocab = 300, Dim = 32, Layers = 2, Heads = 4, Ffn = 48, MaxPositions = 64;

    public static readonly HfSpec[] Specs =
    [
        new("llama-tied", "LlamaForCausalLM", Tied: true),
        new("llama-untied", "LlamaForCausalLM"),
        new("mistral-gqa", "MistralForCausalLM", KvHeads: 2, Eps: 1e-5, Theta: 1e6),
        new("qwen2-bias-gqa", "Qwen2ForCausalLM", Tied: true, KvHeads: 1),
        new("llama3-scaling-gqa", "LlamaForCausalLM", KvHeads: 2, Llama3Scaling: true, Theta: 500000),
        new("llama-sharded", "LlamaForCausalLM", Shards: 3),
        new("llama-bf16", "LlamaForCausalLM", KvHeads: 2, Dtype: "BF16"),
        new("qwen2-f16", "Qwen2ForCausalLM", Dtype: "F16"),
        new("llama-head-dim", "LlamaForCausalLM", HeadDim: 16, KvHeads: 2),
    ];

    static readonly Lazy<ByteLevelBpeTokenizer> Tok = new(() =>
    {
        string dir = Fixtures.TempDir("hf-tok");
        var text = File.ReadAllText(Fixtures.WriteCorpus(dir, 60)) + " naïve café — 東京 🙂 3.14159 2026";
        return ByteLevelBpeTokenizer.Train([text], Vocab);
    });

    /// <summary>The native tokenizer the folders' tokenizer.json is written from.</summary>
    public static ByteLevelBpeTokenizer Tokenizer => Tok.Value;

    public static HfSpec Spec(string name) => Specs.Single(s => s.Name == name);

    /// <summary>The HF config.json of a spec.</summary>
    public static JsonObject Config(HfSpec s)
    {
        var c = new JsonObject
        {
            ["architectures"] = new JsonArray(s.Architecture),
            ["model_type"] = s.Architecture switch { "MistralForCausalLM" => "mistral", "Qwen2ForCausalLM" => "qwen2", _ => "llama" },
            ["vocab_size"] = Vocab, ["hidden_size"] = Dim, ["intermediate_size"] = Ffn, ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads, ["num_key_value_heads"] = s.KvHeads, ["max_position_embeddings"] = MaxPositions,
            ["rms_norm_eps"] = s.Eps, ["rope_theta"] = s.Theta, ["hidden_act"] = "silu", ["tie_word_embeddings"] = s.Tied,
            ["bos_token_id"] = 256, ["eos_token_id"] = 256, ["torch_dtype"] = s.Dtype switch { "BF16" => "bfloat16", "F16" => "float16", _ => "float32" },
        };
        if (s.HeadDim is int hd) c["head_dim"] = hd;
        if (s.Architecture == "MistralForCausalLM") c["sliding_window"] = 4096;
        if (s.Architecture == "Qwen2ForCausalLM") { c["use_sliding_window"] = false; c["sliding_window"] = 32; }
        if (s.Llama3Scaling)
            c["rope_scaling"] = new JsonObject
            {
                ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0, ["original_max_position_embeddings"] = 64,
            };
        return c;
    }

    /// <summary>Random weights with HF names, float32 (seeded by the spec name).</summary>
    public static List<(string Name, Tensor Tensor)> Weights(HfSpec s)
    {
        var rng = new torch.Generator((ulong)s.Name.GetHashCode(StringComparison.Ordinal) & 0xffff);
        int hd = s.HeadDim ?? Dim / Heads;
        Tensor N(params long[] shape) => torch.randn(shape, generator: rng) * 0.2;
        Tensor Gain() => 1 + torch.randn([Dim], generator: rng) * 0.1;
        var w = new List<(string, Tensor)> { ("model.embed_tokens.weight", N(Vocab, Dim)) };
        for (int i = 0; i < Layers; i++)
        {
            string p = $"model.layers.{i}.";
            w.Add((p + "input_layernorm.weight", Gain()));
            w.Add((p + "self_attn.q_proj.weight", N(Heads * hd, Dim)));
            w.Add((p + "self_attn.k_proj.weight", N(s.KvHeads * hd, Dim)));
            w.Add((p + "self_attn.v_proj.weight", N(s.KvHeads * hd, Dim)));
            if (s.Architecture == "Qwen2ForCausalLM")
            {
                w.Add((p + "self_attn.q_proj.bias", N(Heads * hd)));
                w.Add((p + "self_attn.k_proj.bias", N(s.KvHeads * hd)));
                w.Add((p + "self_attn.v_proj.bias", N(s.KvHeads * hd)));
            }
            w.Add((p + "self_attn.o_proj.weight", N(Dim, Heads * hd)));
            w.Add((p + "post_attention_layernorm.weight", Gain()));
            w.Add((p + "mlp.gate_proj.weight", N(Ffn, Dim)));
            w.Add((p + "mlp.up_proj.weight", N(Ffn, Dim)));
            w.Add((p + "mlp.down_proj.weight", N(Dim, Ffn)));
        }
        w.Add(("model.norm.weight", Gain()));
        if (!s.Tied) w.Add(("lm_head.weight", N(Vocab, Dim)));
        var dtype = s.Dtype switch { "BF16" => ScalarType.BFloat16, "F16" => ScalarType.Float16, _ => ScalarType.Float32 };
        return w.Select(x => (x.Item1, x.Item2.to(dtype))).ToList();
    }

    /// <summary>Writes the folder of <paramref name="s"/> into a new temp folder; <paramref name="edit"/> may change config.json.</summary>
    public static string Write(HfSpec s, Action<JsonObject>? edit = null, string? under = null)
    {
        string dir = Path.Combine(under ?? Fixtures.TempDir("hf"), s.Name);
        Directory.CreateDirectory(dir);
        var cfg = Config(s);
        edit?.Invoke(cfg);
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());
        var weights = Weights(s);
        var meta = new Dictionary<string, string> { ["format"] = "pt" };
        if (s.Shards == 1) SafeTensors.Save(Path.Combine(dir, "model.safetensors"), weights, meta);
        else
        {
            var map = new JsonObject();
            int per = (weights.Count + s.Shards - 1) / s.Shards;
            for (int k = 0; k < s.Shards; k++)
            {
                string file = $"model-{k + 1:00000}-of-{s.Shards:00000}.safetensors";
                var part = weights.Skip(k * per).Take(per).ToList();
                SafeTensors.Save(Path.Combine(dir, file), part, meta);
                foreach (var (name, _) in part) map[name] = file;
            }
            File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = 0 }, ["weight_map"] = map }.ToJsonString());
        }
        WriteTokenizer(dir, bosTemplate: s.Architecture != "Qwen2ForCausalLM");
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), new JsonObject
        {
            ["eos_token"] = "<|endoftext|>", ["chat_template"] = "{% for m in messages %}{{ m['content'] }}{% endfor %}",
        }.ToJsonString());
        return dir;
    }

    /// <summary>tokenizer.json from the native tokenizer, with a TemplateProcessing post-processor prepending &lt;|endoftext|&gt; when asked.</summary>
    public static void WriteTokenizer(string dir, bool bosTemplate)
    {
        string path = Path.Combine(dir, "tokenizer.json");
        DataFiles.SaveTokenizer(Tokenizer, path);
        if (!bosTemplate) return;
        var j = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        j["post_processor"] = JsonNode.Parse("""
            {"type":"TemplateProcessing",
             "single":[{"SpecialToken":{"id":"<|endoftext|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
             "pair":[{"SpecialToken":{"id":"<|endoftext|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],
             "special_tokens":{"<|endoftext|>":{"id":"<|endoftext|>","ids":[256],"tokens":["<|endoftext|>"]}}}
            """);
        File.WriteAllText(path, j.ToJsonString());
    }
}
