using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Runs;

/// <summary>Summary of a finished import (also <c>summary.json</c>).</summary>
/// <param name="Dtype">The dtype the weights were written in (<c>model.dtype</c>; absent from summaries written before it existed).</param>
public sealed record ImportSummary(string Architecture, long Parameters, int Tensors, string SourceDtype, string WeightsSha256, double Seconds,
    string Dtype = ModelConfig.Float32);

/// <summary>
/// <c>smf import</c>: turns a Hugging Face decoder folder (<c>config.json</c>, <c>model.safetensors</c> or shards listed
/// by <c>model.safetensors.index.json</c>, <c>tokenizer.json</c>, optionally <c>tokenizer_config.json</c>) into a run
/// folder every verb loads: the architecture in <c>config.json</c>'s <c>model</c> section, the weights renamed to this
/// project's names in float32 (or kept in bfloat16 / float16: <see cref="ImportConfig.Dtype"/>, recorded as
/// <c>model.dtype</c>), <c>tokenizer.json</c> copied verbatim with its special tokens and chat template in
/// <c>tokenizer_info.json</c>. Architectures: <see cref="Architectures"/> (docs/own-model.md). Everything the code
/// cannot reproduce exactly is refused with one line naming the file, the field and the value, before anything is
/// written. Re-running on the folder of a finished import says it is complete; an interrupted one is redone.
/// </summary>
public static class HfImport
{
    /// <summary>The <c>architectures</c> accepted (SmolLM and Llama 3 checkpoints say LlamaForCausalLM).</summary>
    public static readonly IReadOnlyList<string> Architectures = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"];

    /// <summary>Source tensor dtypes accepted (each is converted to <see cref="ImportConfig.Dtype"/>: float32 by default).</summary>
    public static readonly IReadOnlyList<string> SourceDtypes = ["F32", "F16", "BF16"];

    const string HfConfigFile = "config.json", SingleFile = "model.safetensors", IndexFile = "model.safetensors.index.json",
        TokenizerConfigFile = "tokenizer_config.json", GenerationConfigFile = "generation_config.json";

    /// <summary>
    /// Reads and checks the source's <c>config.json</c> and tokenizer (no weights): the run config the import would
    /// freeze, the weight files in order, and the tokenizer's special tokens. Throws <see cref="InvalidDataException"/>
    /// (or <see cref="FileNotFoundException"/>) naming the file, field and value of the first thing not supported.
    /// </summary>
    public static (ImportRunConfig Config, IReadOnlyList<string> Shards, HfTokenizerInfo Tokenizer) Inspect(string from, int maxSeqLen = ImportConfig.DefaultMaxSeqLen) =>
        Inspect(from, new ImportConfig { MaxSeqLen = maxSeqLen });

    /// <summary>
    /// <see cref="Inspect(string, int)"/> with the import options of <paramref name="options"/> (<see cref="ImportConfig.MaxSeqLen"/>,
    /// <see cref="ImportConfig.Dtype"/>; its other fields are filled in from the source).
    /// </summary>
    public static (ImportRunConfig Config, IReadOnlyList<string> Shards, HfTokenizerInfo Tokenizer) Inspect(string from, ImportConfig options)
    {
        if (options.Validate() is { Count: > 0 } problems) throw new ConfigException(string.Join("; ", problems));
        int maxSeqLen = options.MaxSeqLen;
        if (!Directory.Exists(from)) throw new DirectoryNotFoundException($"{from}: folder not found (give the Hugging Face model folder with config.json, model.safetensors and tokenizer.json)");
        from = Path.GetFullPath(from);
        string cfgPath = Path.Combine(from, HfConfigFile);
        if (!File.Exists(cfgPath)) throw new FileNotFoundException($"{cfgPath}: not found; a Hugging Face model folder has config.json", cfgPath);
        var bytes = File.ReadAllBytes(cfgPath);
        JsonObject c;
        try { c = JsonNode.Parse(bytes, documentOptions: ConfigLoader.DocumentOptions) as JsonObject ?? throw new InvalidDataException($"{cfgPath}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{cfgPath}: not valid JSON ({e.Message.ReplaceLineEndings(" ")})"); }
        var f = new Fields(c, cfgPath);

        string arch = f.Architecture();
        if (c["quantization_config"] is not null) throw f.Bad("quantization_config", "present", "quantized weights are not supported");
        string act = f.Str("hidden_act") ?? "silu";
        if (act != "silu") throw f.Bad("hidden_act", act, "only silu (SwiGLU) is supported");
        if (f.Bool("mlp_bias") == true) throw f.Bad("mlp_bias", "true", "MLP biases are not supported");
        bool qwen = arch == "Qwen2ForCausalLM";
        if (!qwen && f.Bool("attention_bias") == true) throw f.Bad("attention_bias", "true", "attention biases (which include o_proj) are supported only as Qwen2's q/k/v biases");

        int dim = f.Int("hidden_size"), layers = f.Int("num_hidden_layers"), heads = f.Int("num_attention_heads");
        int kvHeads = f.OptInt("num_key_value_heads") ?? heads;
        int ffn = f.Int("intermediate_size"), vocab = f.Int("vocab_size");
        int maxPos = f.OptInt("max_position_embeddings") ?? maxSeqLen;
        int seq = Math.Min(maxPos, maxSeqLen);
        int? headDim = f.OptInt("head_dim");
        if (heads <= 0 || (headDim is null && dim % heads != 0)) throw f.Bad("num_attention_heads", heads.ToString(), $"it must divide hidden_size ({dim})");
        if (kvHeads <= 0 || heads % kvHeads != 0) throw f.Bad("num_key_value_heads", kvHeads.ToString(), $"it must divide num_attention_heads ({heads})");

        // Sliding-window attention changes nothing while every sequence fits in the window.
        int? window = f.OptInt("sliding_window");
        bool windowUsed = arch switch
        {
            "MistralForCausalLM" => window is not null,
            "Qwen2ForCausalLM" => f.Bool("use_sliding_window") == true && window is not null,
            _ => false,
        };
        if (windowUsed && window < seq)
            throw f.Bad("sliding_window", window.ToString()!, $"sliding-window attention is not supported; it is exact only up to the window, so pass --max-seq-len {window} (or less) to import with a context the window covers (now {seq})");

        RopeScalingConfig? scaling = null;
        if (c["rope_scaling"] is JsonObject rs)
        {
            string type = (rs["rope_type"] ?? rs["type"])?.GetValue<string>() ?? "(missing)";
            if (type == "llama3")
            {
                var sf = new Fields(rs, cfgPath, "rope_scaling.");
                scaling = new RopeScalingConfig
                {
                    Factor = sf.Double("factor"), LowFreqFactor = sf.Double("low_freq_factor"), HighFreqFactor = sf.Double("high_freq_factor"),
                    OriginalMaxPositionEmbeddings = sf.Int("original_max_position_embeddings"),
                };
            }
            else if (type != "default") throw f.Bad("rope_scaling.rope_type", type, $"supported: {string.Join(", ", RopeScalingConfig.Types)} (or no rope_scaling)");
        }
        else if (c["rope_scaling"] is JsonNode other && other.GetValueKind() != JsonValueKind.Null)
            throw f.Bad("rope_scaling", other.ToJsonString(), "expected an object or null");

        bool tied = f.Bool("tie_word_embeddings") ?? false;
        var model = new ModelConfig
        {
            VocabSize = vocab, Dim = dim, Layers = layers, Heads = heads, FfnHidden = ffn, MaxSeqLen = seq, TieEmbeddings = tied,
            RopeTheta = f.OptDouble("rope_theta") ?? 10000.0, NormEps = f.OptDouble("rms_norm_eps") ?? 1e-6,
            KvHeads = kvHeads == heads ? -1 : kvHeads,
            HeadDim = headDim is int hd && (dim % heads != 0 || hd != dim / heads) ? hd : -1,
            QkvBias = qwen, RopeScaling = scaling, Memory = null,
        };
        var errors = new List<string>();
        model.Validate(errors, "model");
        if (errors.Count > 0) throw new InvalidDataException($"{cfgPath}: the model it describes is not supported: {string.Join("; ", errors)}");

        var shards = Shards(from);
        string dtype = SourceDtypeOf(f.Str("torch_dtype") ?? f.Str("dtype") ?? "", cfgPath);
        dtype = CheckTensors(shards, model, arch, dtype);
        var tokenizer = TokenizerInfo(from, c, cfgPath);
        var import = options with
        {
            From = from, Architecture = arch, SourceDtype = dtype, ConfigSha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
        };
        model = model with { Dtype = import.ResolvedDtype(dtype) };
        return (new ImportRunConfig { Import = import, Model = model }, shards, tokenizer);
    }

    /// <summary>
    /// Every tensor the model needs is present once, with the shape the config implies, in one float dtype (the
    /// config's torch_dtype when it names one), and no tensor is left over: checked from the files' headers alone,
    /// before anything is written. Returns the dtype.
    /// </summary>
    static string CheckTensors(IReadOnlyList<string> shards, ModelConfig m, string arch, string dtype)
    {
        var expected = ExpectedShapes(m);
        var seen = new Dictionary<string, string>();
        bool fromConfig = dtype != "";
        foreach (string file in shards)
            foreach (var (name, dt, shape) in SafeTensors.ReadTensorInfo(file))
            {
                if (!SourceDtypes.Contains(dt)) throw new InvalidDataException($"{file}: tensor {name} is {dt}; only {string.Join(", ", SourceDtypes)} tensors are read");
                if (dtype == "") dtype = dt;
                else if (dt != dtype)
                    throw new InvalidDataException($"{file}: tensor {name} is {dt} but {(fromConfig ? "config.json torch_dtype says" : "earlier tensors are")} {dtype}; dtype mismatch");
                string? ours = MapName(name, m.TieEmbeddings);
                if (ours is null) continue;
                if (ours == "" || !expected.TryGetValue(ours, out var want))
                    throw new InvalidDataException($"{file}: unexpected tensor {name} (not part of a {arch} model as config.json describes it)");
                if (!shape.SequenceEqual(want))
                    throw new InvalidDataException($"{file}: tensor {name} has shape [{string.Join(", ", shape)}] but config.json implies [{string.Join(", ", want)}]");
                if (!seen.TryAdd(ours, file)) throw new InvalidDataException($"{file}: tensor {name} is also in {seen[ours]}");
            }
        var missing = expected.Keys.Where(k => !seen.ContainsKey(k)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{Path.GetDirectoryName(shards[0])}: the weights lack {missing.Count} tensor(s) the model needs, e.g. {HfName(missing[0])}");
        return dtype;
    }

    /// <summary>The state-dict shapes of a dense model (what <see cref="LanguageModel"/> builds for <paramref name="m"/>).</summary>
    public static Dictionary<string, long[]> ExpectedShapes(ModelConfig m)
    {
        long d = m.Dim, q = (long)m.Heads * m.ResolvedHeadDim(), kv = (long)m.ResolvedKvHeads() * m.ResolvedHeadDim(), f = m.FfnHidden;
        var s = new Dictionary<string, long[]> { ["tok_embeddings.weight"] = [m.VocabSize, d], ["norm.weight"] = [d] };
        if (!m.TieEmbeddings) s["output.weight"] = [m.VocabSize, d];
        for (int i = 0; i < m.Layers; i++)
        {
            string p = $"layers.{i}.";
            s[p + "attention_norm.weight"] = [d];
            s[p + "ffn_norm.weight"] = [d];
            s[p + "attention.wq.weight"] = [q, d];
            s[p + "attention.wk.weight"] = [kv, d];
            s[p + "attention.wv.weight"] = [kv, d];
            s[p + "attention.wo.weight"] = [d, q];
            if (m.QkvBias) { s[p + "attention.wq.bias"] = [q]; s[p + "attention.wk.bias"] = [kv]; s[p + "attention.wv.bias"] = [kv]; }
            s[p + "feed_forward.w1.weight"] = [f, d];
            s[p + "feed_forward.w3.weight"] = [f, d];
            s[p + "feed_forward.w2.weight"] = [d, f];
        }
        return s;
    }

    /// <summary>The safetensors files of the checkpoint: the one file, or every shard the index names (each must exist).</summary>
    static IReadOnlyList<string> Shards(string from)
    {
        string single = Path.Combine(from, SingleFile), index = Path.Combine(from, IndexFile);
        if (File.Exists(index))
        {
            JsonObject map;
            try { map = (JsonNode.Parse(File.ReadAllText(index))?["weight_map"] as JsonObject) ?? throw new InvalidDataException($"{index}: has no \"weight_map\" object"); }
            catch (JsonException e) { throw new InvalidDataException($"{index}: not valid JSON ({e.Message.ReplaceLineEndings(" ")})"); }
            var files = new List<string>();
            foreach (var (tensor, file) in map)
            {
                string name = file?.GetValueKind() == JsonValueKind.String ? file.GetValue<string>() : throw new InvalidDataException($"{index}: weight_map[\"{tensor}\"] is not a file name");
                if (name.Contains('/') || name.Contains('\\') || name == "..") throw new InvalidDataException($"{index}: weight_map[\"{tensor}\"] is \"{name}\", not a file name in the folder");
                if (!files.Contains(name)) files.Add(name);
            }
            foreach (string name in files)
                if (!File.Exists(Path.Combine(from, name)))
                    throw new FileNotFoundException($"{index}: names shard {name}, which is missing from {from}", Path.Combine(from, name));
            if (files.Count == 0) throw new InvalidDataException($"{index}: weight_map is empty");
            return files.Select(n => Path.Combine(from, n)).ToList();
        }
        if (File.Exists(single)) return [single];
        throw new FileNotFoundException($"{from}: has neither {SingleFile} nor {IndexFile} (only safetensors weights are read; convert .bin/.pt files first)", single);
    }

    static string SourceDtypeOf(string torchDtype, string cfgPath) => torchDtype switch
    {
        "float32" => "F32", "float16" => "F16", "bfloat16" => "BF16", "" => "",
        _ => throw new InvalidDataException($"{cfgPath}: torch_dtype is \"{torchDtype}\"; supported: float32, float16, bfloat16"),
    };

    /// <summary>
    /// Special tokens and chat template: ids from config.json (end-of-sequence ids from generation_config.json first),
    /// add_bos, the token texts and the template from tokenizer_config.json.
    /// </summary>
    static HfTokenizerInfo TokenizerInfo(string from, JsonObject c, string cfgPath)
    {
        string tokPath = Path.Combine(from, Checkpoint.TokenizerFile);
        var (vocabSize, tokens) = HfTokenizer.Inspect(tokPath);      // refuses a missing file or a model type other than BPE
        JsonObject? tc = null;
        string tcPath = Path.Combine(from, TokenizerConfigFile);
        if (File.Exists(tcPath))
        {
            try { tc = JsonNode.Parse(File.ReadAllText(tcPath), documentOptions: ConfigLoader.DocumentOptions) as JsonObject; }
            catch (JsonException e) { throw new InvalidDataException($"{tcPath}: not valid JSON ({e.Message.ReplaceLineEndings(" ")})"); }
        }
        string? Text(string tokenField)
        {
            var t = tc?[tokenField];
            return t?.GetValueKind() == JsonValueKind.String ? t.GetValue<string>() : t?["content"]?.GetValue<string>();
        }
        int? TokenId(string tokenField) => Text(tokenField) is not string text ? null
            : tokens.TryGetValue(text, out int id) ? id : throw new InvalidDataException($"{tcPath}: {tokenField} \"{text}\" is not in {tokPath}");
        int? Id(string idField, string tokenField) =>
            c[idField] is JsonNode node && node.GetValueKind() == JsonValueKind.Number ? node.GetValue<int>() : TokenId(tokenField);
        // End-of-sequence ids (docs/own-model.md#end-of-sequence-ids): generation_config.json's eos_token_id when it
        // names any (it is what generation reads), else config.json's, else tokenizer_config.json's eos_token. Each is an
        // id or a list of ids; the first is the primary id that training writes, and generation stops at any of them.
        string genPath = Path.Combine(from, GenerationConfigFile);
        JsonObject? gen = null;
        if (File.Exists(genPath))
        {
            try { gen = JsonNode.Parse(File.ReadAllText(genPath), documentOptions: ConfigLoader.DocumentOptions) as JsonObject ?? throw new InvalidDataException($"{genPath}: not a JSON object"); }
            catch (JsonException e) { throw new InvalidDataException($"{genPath}: not valid JSON ({e.Message.ReplaceLineEndings(" ")})"); }
        }
        var (eosIds, eosSource) = EosIds(gen, genPath) is { } g ? (g, genPath) : EosIds(c, cfgPath) is { } m ? (m, cfgPath)
            : TokenId("eos_token") is int t ? ([t], tcPath)
            : throw new InvalidDataException($"{cfgPath}: eos_token_id is missing (and tokenizer_config.json names no eos_token); generation needs an end-of-sequence id");
        if (eosIds.FirstOrDefault(id => id >= vocabSize, -1) is int outside and >= 0)
            throw new InvalidDataException($"{eosSource}: eos_token_id {outside} is outside the vocabulary of {tokPath} (size {vocabSize})");
        int eos = eosIds[0];
        int? bos = Id("bos_token_id", "bos_token"), pad = Id("pad_token_id", "pad_token");
        bool? addBos = tc?["add_bos_token"] is JsonNode ab && ab.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? ab.GetValue<bool>() : null;
        string? template = tc?["chat_template"] switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            JsonArray list => list.OfType<JsonObject>().FirstOrDefault(o => o["name"]?.GetValue<string>() == "default")?["template"]?.GetValue<string>(),
            _ => null,
        };
        var info = new HfTokenizerInfo
        {
            BosId = bos, EosId = eos, EosIds = eosIds.Length > 1 ? eosIds : null, PadId = pad, ChatTemplate = template,
            BosToken = Text("bos_token"), EosToken = Text("eos_token"),
        };
        if (addBos is null && bos is not null)
        {
            // No explicit setting: the tokenizer's own post-processor decides (Llama's template prepends BOS).
            using var probe = HfTokenizer.Load(tokPath, info);
            addBos = probe.FramingPrefix.Contains(bos.Value);
        }
        return info with { AddBos = addBos == true && bos is not null };
    }

    /// <summary>
    /// <c>eos_token_id</c> of <paramref name="o"/> as a list without repeats: one id or a list of ids; null when absent,
    /// null or an empty list. Anything else is refused naming the file.
    /// </summary>
    static int[]? EosIds(JsonObject? o, string path)
    {
        var node = o?["eos_token_id"];
        if (node is null || node.GetValueKind() == JsonValueKind.Null) return null;
        var items = node is JsonArray a ? a.ToList() : [node];
        var ids = new List<int>();
        for (int i = 0; i < items.Count; i++)
        {
            var x = items[i];
            if (x is null || x.GetValueKind() != JsonValueKind.Number || !x.AsValue().TryGetValue(out int id) || id < 0)
                throw new InvalidDataException($"{path}: eos_token_id{(node is JsonArray ? $"[{i}]" : "")} is {x?.ToJsonString() ?? "null"}; expected a token id (a whole number ≥ 0) or a list of them");
            if (!ids.Contains(id)) ids.Add(id);
        }
        return ids.Count == 0 ? null : ids.ToArray();
    }

    /// <summary>Hugging Face tensor name → this project's (<see cref="LanguageModel"/>), or null for a tensor that is skipped.</summary>
    public static string? MapName(string hf, bool tied)
    {
        if (hf == "model.embed_tokens.weight") return "tok_embeddings.weight";
        if (hf == "model.norm.weight") return "norm.weight";
        if (hf == "lm_head.weight") return tied ? null : "output.weight";
        if (!hf.StartsWith("model.layers.", StringComparison.Ordinal)) return "";
        string rest = hf["model.layers.".Length..];
        int dot = rest.IndexOf('.');
        if (dot <= 0 || !int.TryParse(rest[..dot], System.Globalization.NumberStyles.None, null, out int i)) return "";
        string suffix = rest[(dot + 1)..];
        if (suffix.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)) return null;   // a buffer some old files carry
        string? ours = suffix switch
        {
            "input_layernorm.weight" => "attention_norm.weight",
            "post_attention_layernorm.weight" => "ffn_norm.weight",
            "self_attn.q_proj.weight" => "attention.wq.weight", "self_attn.k_proj.weight" => "attention.wk.weight",
            "self_attn.v_proj.weight" => "attention.wv.weight", "self_attn.o_proj.weight" => "attention.wo.weight",
            "self_attn.q_proj.bias" => "attention.wq.bias", "self_attn.k_proj.bias" => "attention.wk.bias",
            "self_attn.v_proj.bias" => "attention.wv.bias",
            "mlp.gate_proj.weight" => "feed_forward.w1.weight", "mlp.up_proj.weight" => "feed_forward.w3.weight",
            "mlp.down_proj.weight" => "feed_forward.w2.weight",
            _ => "",
        };
        return ours == "" ? "" : $"layers.{i}.{ours}";
    }

    /// <summary>Imports <paramref name="from"/> into <paramref name="outDir"/> in float32, or reports that it already has.</summary>
    public static ImportSummary Run(string from, string outDir, int maxSeqLen, Action<string> progress) =>
        Run(from, outDir, new ImportConfig { MaxSeqLen = maxSeqLen }, progress);

    /// <summary>
    /// Imports <paramref name="from"/> into <paramref name="outDir"/> with the options of <paramref name="options"/>
    /// (<see cref="ImportConfig.MaxSeqLen"/>, <see cref="ImportConfig.Dtype"/>), or reports that it already has.
    /// </summary>
    public static ImportSummary Run(string from, string outDir, ImportConfig options, Action<string> progress)
    {
        var started = DateTime.UtcNow;
        var (requested, shards, tokInfo) = Inspect(from, options);
        var (cfg, done) = RunFolder.Open<ImportRunConfig, ImportSummary>(requested, outDir, progress);
        if (done is not null) return done;
        var m = cfg.Model;
        progress($"{cfg.Import.Architecture}: {m.Layers} blocks, dim {m.Dim}, {m.Heads} heads ({m.ResolvedKvHeads()} key/value), vocab {m.VocabSize}, context {m.MaxSeqLen}, {cfg.Import.SourceDtype} → {m.Dtype}");

        torch.manual_seed(0);
        using var model = new LanguageModel(m);
        var state = model.state_dict();
        var filled = new HashSet<string>();
        string sourceDtype = cfg.Import.SourceDtype;
        if (sourceDtype == "") throw new InvalidDataException($"{cfg.Import.From}: no weights");
        int tensors = 0;
        using (torch.no_grad())
        {
            for (int s = 0; s < shards.Count; s++)
            {
                string file = shards[s];
                var (loaded, _) = SafeTensors.Load(file);
                try
                {
                    progress($"shard {s + 1}/{shards.Count}: {Path.GetFileName(file)} ({loaded.Count} tensors)");
                    foreach (var (name, t) in loaded)
                    {
                        // Names, shapes and dtypes were checked from the headers before the folder was created (CheckTensors);
                        // these checks only guard against files that changed since.
                        string? ours = MapName(name, m.TieEmbeddings);
                        if (ours is null) continue;
                        if (ours == "" || !state.TryGetValue(ours, out var dst) || !t.shape.SequenceEqual(dst.shape) || !filled.Add(ours))
                            throw new InvalidDataException($"{file}: tensor {name} does not match the header read before; did the file change during the import?");
                        if (!torch.isfinite(t).all().item<bool>()) throw new InvalidDataException($"{file}: tensor {name} holds NaN or infinite values");
                        dst.copy_(t.to(dst.dtype));
                        if (!torch.isfinite(dst).all().item<bool>())
                            throw new InvalidDataException($"{file}: tensor {name} has values beyond the range of {m.Dtype}{(m.Dtype == "float16" ? " (largest finite: 65504); import with --dtype bfloat16 or --dtype float32" : "; import with --dtype float32")}");
                        tensors++;
                    }
                }
                finally { foreach (var t in loaded.Values) t.Dispose(); }
            }
        }
        var missing = state.Keys.Where(k => !filled.Contains(k)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{from}: the weights lack {missing.Count} tensor(s) the model needs, e.g. {HfName(missing[0])} (as {missing[0]})");

        progress($"writing {Path.Combine(outDir, Checkpoint.ModelFile)} ({m.Dtype}) …");
        Checkpoint.SaveWeights(outDir, model, new Dictionary<string, string> { ["step"] = "0", ["imported_from"] = cfg.Import.Architecture });
        AtomicFile.Copy(Path.Combine(cfg.Import.From, Checkpoint.TokenizerFile), Path.Combine(outDir, Checkpoint.TokenizerFile));
        RunFolder.SaveConfig(tokInfo, Path.Combine(outDir, Checkpoint.TokenizerInfoFile));
        var tok = Checkpoint.LoadTokenizer(outDir, m);          // the run folder loads as every verb will load it
        (tok as IDisposable)?.Dispose();
        long parameters = model.parameters().Sum(p => p.numel());
        var summary = new ImportSummary(cfg.Import.Architecture, parameters, tensors, sourceDtype, Checkpoint.Fingerprint(outDir), (DateTime.UtcNow - started).TotalSeconds, m.Dtype);
        RunFolder.WriteSummary(outDir, summary);
        return summary;
    }

    /// <summary>The Hugging Face name of one of our tensors (for messages).</summary>
    static string HfName(string ours)
    {
        if (ours == "tok_embeddings.weight") return "model.embed_tokens.weight";
        if (ours == "norm.weight") return "model.norm.weight";
        if (ours == "output.weight") return "lm_head.weight";
        for (int i = 0; ; i++)
        {
            foreach (string hf in new[] { "input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                         "self_attn.v_proj.weight", "self_attn.o_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias",
                         "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight" })
                if (MapName($"model.layers.{i}.{hf}", false) == ours) return $"model.layers.{i}.{hf}";
            if (!ours.StartsWith("layers.", StringComparison.Ordinal) || i > 10_000) return ours;
        }
    }

    /// <summary>Typed reads of config.json fields; every problem names the file, the field and the value.</summary>
    sealed class Fields(JsonObject o, string path, string prefix = "")
    {
        public InvalidDataException Bad(string field, string value, string why) => new($"{path}: {field} is {value}; {why}");

        public string Architecture()
        {
            if (o["architectures"] is not JsonArray { Count: > 0 } a || a[0]?.GetValueKind() != JsonValueKind.String)
                throw new InvalidDataException($"{path}: architectures is missing; supported: {string.Join(", ", Architectures)}");
            string arch = a[0]!.GetValue<string>();
            if (!Architectures.Contains(arch)) throw Bad("architectures[0]", $"\"{arch}\"", $"supported: {string.Join(", ", Architectures)}");
            return arch;
        }

        JsonNode? Get(string field) => o[field] is JsonNode n && n.GetValueKind() != JsonValueKind.Null ? n : null;

        public string? Str(string field) => Get(field) is JsonNode n
            ? n.GetValueKind() == JsonValueKind.String ? n.GetValue<string>() : throw Bad(prefix + field, n.ToJsonString(), "expected a string")
            : null;

        public bool? Bool(string field) => Get(field) is JsonNode n
            ? n.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? n.GetValue<bool>() : throw Bad(prefix + field, n.ToJsonString(), "expected true or false")
            : null;

        public int? OptInt(string field)
        {
            if (Get(field) is not JsonNode n) return null;
            if (n.GetValueKind() == JsonValueKind.Number && n.AsValue().TryGetValue(out int i)) return i;
            if (n.GetValueKind() == JsonValueKind.Number && n.AsValue().TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
            throw Bad(prefix + field, n.ToJsonString(), "expected a whole number");
        }

        public int Int(string field) => OptInt(field) ?? throw new InvalidDataException($"{path}: {prefix}{field} is missing");

        public double? OptDouble(string field) => Get(field) is JsonNode n
            ? n.GetValueKind() == JsonValueKind.Number ? n.GetValue<double>() : throw Bad(prefix + field, n.ToJsonString(), "expected a number")
            : null;

        public double Double(string field) => OptDouble(field) ?? throw new InvalidDataException($"{path}: {prefix}{field} is missing");
    }
}
