using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Checkpoints;

/// <summary>A model loaded from a checkpoint folder.</summary>
/// <param name="Model">The model, in eval mode, on the requested device.</param>
/// <param name="Tokenizer">Its tokenizer.</param>
/// <param name="RunConfig">The whole config.json of the run that wrote it (has a "model" section).</param>
/// <param name="Directory">The folder.</param>
public sealed record LoadedModel(LanguageModel Model, ITokenizer Tokenizer, JsonNode RunConfig, string Directory);

/// <summary>
/// The checkpoint folder layout shared by every verb: <c>model.safetensors</c> (weights, names as in
/// <see cref="LanguageModel"/>), <c>config.json</c> (the frozen run config, with a <c>model</c> section),
/// <c>tokenizer.json</c> (Hugging Face format), and for resuming <c>optimizer.bin</c> + <c>trainer_state.json</c>
/// (+ <c>trainable_state.safetensors</c> for methods with adapters) and <c>metrics.jsonl</c>. Every file is written
/// atomically (<see cref="AtomicFile"/>); the files of one training checkpoint commit together
/// (<see cref="TrainingCheckpoint"/>, docs/persistence.md).
/// </summary>
public static class Checkpoint
{
    /// <summary>Weights file name.</summary>
    public const string ModelFile = "model.safetensors";
    /// <summary>Run config file name.</summary>
    public const string ConfigFile = "config.json";
    /// <summary>Tokenizer file name.</summary>
    public const string TokenizerFile = "tokenizer.json";
    /// <summary>Special tokens and chat template of a Hugging Face tokenizer (imported models only; <see cref="HfTokenizerInfo"/>).</summary>
    public const string TokenizerInfoFile = "tokenizer_info.json";
    /// <summary>Optimizer state file name (TorchSharp format; only needed to resume).</summary>
    public const string OptimizerFile = "optimizer.bin";
    /// <summary>Trainer progress file name (only needed to resume).</summary>
    public const string StateFile = "trainer_state.json";

    /// <summary>Method-specific trainable state for resuming (e.g. LoRA adapters), next to the exported weights.</summary>
    public const string TrainableStateFile = "trainable_state.safetensors";

    /// <summary>Training metrics, one JSON row per logged step (<see cref="JsonlWriter"/>).</summary>
    public const string MetricsFile = "metrics.jsonl";

    /// <summary>Writes the model's weights to <c>dir/model.safetensors</c>.</summary>
    public static void SaveWeights(string dir, LanguageModel model, IReadOnlyDictionary<string, string>? metadata = null) =>
        SaveWeights(dir, model.state_dict().Select(kv => (kv.Key, kv.Value)), metadata);

    /// <summary>Writes named tensors as <c>dir/model.safetensors</c>, atomically.</summary>
    public static void SaveWeights(string dir, IEnumerable<(string Name, Tensor Tensor)> weights, IReadOnlyDictionary<string, string>? metadata = null) =>
        AtomicFile.Write(Path.Combine(dir, ModelFile), s => WriteWeights(s, weights, metadata));

    /// <summary>
    /// Writes named tensors in the <c>model.safetensors</c> format to <paramref name="destination"/>: metadata
    /// <c>format=pt</c>, <c>library=SparseMemory</c>, then <paramref name="metadata"/>.
    /// </summary>
    public static void WriteWeights(Stream destination, IEnumerable<(string Name, Tensor Tensor)> weights, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["library"] = "SparseMemory" };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) meta[k] = v;
        SafeTensors.Write(destination, weights, meta);
    }

    /// <summary>
    /// Loads weights into <paramref name="model"/>, strictly: a missing or unexpected tensor, a shape or dtype mismatch,
    /// or (unless <paramref name="allowNonFinite"/>) a NaN or infinite value is an <see cref="InvalidDataException"/>
    /// naming the file and tensor.
    /// </summary>
    public static void LoadWeights(LanguageModel model, string file, bool allowNonFinite = false) =>
        LoadInto(model.state_dict().Select(kv => (kv.Key, kv.Value)).ToList(), file, allowNonFinite);

    /// <summary>
    /// Copies the tensors of a safetensors file into <paramref name="targets"/>, strictly: the same names, shapes and
    /// dtypes (a tensor stored as F64, F16, I64 or BOOL for a float32 weight is an error, never converted), and finite
    /// values unless <paramref name="allowNonFinite"/>. Every error is an <see cref="InvalidDataException"/> naming
    /// the file and the tensor.
    /// </summary>
    public static void LoadInto(IReadOnlyList<(string Name, Tensor Tensor)> targets, string file, bool allowNonFinite = false)
    {
        var (tensors, _) = SafeTensors.Load(file);
        try
        {
            var state = targets.ToDictionary(t => t.Name, t => t.Tensor);
            var missing = state.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
            var unexpected = tensors.Keys.Where(k => !state.ContainsKey(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new InvalidDataException($"{file}: tensors do not match the model in config.json (missing: {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}; unexpected: {string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? ", …" : "")})");
            using var _ = torch.no_grad();
            foreach (var (name, dst) in state)
            {
                var src = tensors[name];
                if (!src.shape.SequenceEqual(dst.shape))
                    throw new InvalidDataException($"{file}: tensor {name} has shape [{string.Join(", ", src.shape)}] but the model expects [{string.Join(", ", dst.shape)}]");
                if (src.dtype != dst.dtype)
                    throw new InvalidDataException($"{file}: tensor {name} is stored as {SafeTensors.DtypeName(src.dtype)} but the model expects {SafeTensors.DtypeName(dst.dtype)}; it is not converted (re-export the weights as {SafeTensors.DtypeName(dst.dtype)})");
                if (!allowNonFinite && src.is_floating_point() && !torch.isfinite(src).all().item<bool>())
                    throw new InvalidDataException($"{file}: tensor {name} holds non-finite values (NaN or ±infinity); the run that wrote it diverged — use an earlier checkpoint or retrain with a lower lr (smf generate and smf eval load it anyway with --allow-nonfinite)");
                dst.copy_(src);
            }
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Reads the <c>model</c> section of <c>dir/config.json</c>.</summary>
    public static (ModelConfig Model, JsonNode Tree) ReadModelConfig(string dir)
    {
        string path = Path.Combine(dir, ConfigFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: not found; is {dir} a checkpoint folder (written by smf pretrain or smf finetune)?", path);
        JsonNode tree;
        try { tree = JsonNode.Parse(File.ReadAllText(path), documentOptions: ConfigLoader.DocumentOptions) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
        if (tree is not JsonObject root)
            throw new InvalidDataException($"{path}: must be a JSON object (a run config with a \"model\" section), got {tree.GetValueKind().ToString().ToLowerInvariant()}");
        CheckKnownKeys(root, path);
        if (root["model"] is not JsonNode modelNode) throw new InvalidDataException($"{path}: has no \"model\" section");
        try
        {
            var model = modelNode.Deserialize<ModelConfig>(ConfigLoader.Json) ?? throw new JsonException("null");
            var errors = new List<string>();
            model.Validate(errors, "model");
            if (errors.Count > 0) throw new InvalidDataException($"{path}: invalid model config: {string.Join("; ", errors)}");
            return (model, tree);
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: model section is invalid ({e.Message})"); }
    }

    /// <summary>
    /// Every key of a checkpoint's <c>config.json</c> must be one its run knows, as when the run is resumed: the
    /// config of <c>smf finetune</c> (it has <c>base_model</c> and <c>method</c>), <c>smf import</c> (<c>import</c>),
    /// <c>smf retrofit</c> (<c>retrofit</c>) or <c>smf pretrain</c> (it has <c>train</c>) is read whole and strictly; any other file may hold only the top-level keys of either.
    /// </summary>
    static void CheckKnownKeys(JsonObject root, string path)
    {
        if (root.ContainsKey("base_model") && root.ContainsKey("method")) ConfigLoader.CheckTree<FinetuneConfig>(root, path);
        else if (root.ContainsKey("import")) ConfigLoader.CheckTree<ImportRunConfig>(root, path);
        else if (root.ContainsKey("retrofit")) ConfigLoader.CheckTree<RetrofitConfig>(root, path);
        else if (root.ContainsKey("train")) ConfigLoader.CheckTree<PretrainConfig>(root, path);
        else
        {
            var known = ConfigLoader.TopLevelKeys<PretrainConfig>().Union(ConfigLoader.TopLevelKeys<FinetuneConfig>()).ToHashSet();
            if (root.Select(kv => kv.Key).FirstOrDefault(k => !known.Contains(k)) is { } unknown)
                throw new ConfigException($"{path}: unknown key at {unknown} (check the spelling; keys are snake_case, e.g. model.vocab_size)");
        }
    }

    /// <summary>
    /// Loads model + tokenizer from a checkpoint folder onto <paramref name="device"/>, in eval mode. The weights are
    /// read strictly (<see cref="LoadInto"/>): non-finite values are an error unless <paramref name="allowNonFinite"/>.
    /// </summary>
    public static LoadedModel Load(string dir, Device? device = null, bool allowNonFinite = false)
    {
        if (!System.IO.Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: checkpoint folder not found");
        var (cfg, tree) = ReadModelConfig(dir);
        var tokenizer = LoadTokenizer(dir, cfg);
        var model = new LanguageModel(cfg);
        LoadWeights(model, Path.Combine(dir, ModelFile), allowNonFinite);
        if (device is not null) model.to(device);
        model.eval();
        return new LoadedModel(model, tokenizer, tree, dir);
    }

    /// <summary>
    /// Loads <c>dir/tokenizer.json</c> and checks it fits the model: a tokenizer with more ids than
    /// <c>model.vocab_size</c> is an <see cref="InvalidDataException"/> naming both files. A folder with
    /// <c>tokenizer_info.json</c> (an imported model) has a Hugging Face tokenizer (<see cref="HfTokenizer"/>); any
    /// other the native byte-level BPE.
    /// </summary>
    public static ITokenizer LoadTokenizer(string dir, ModelConfig model)
    {
        string tokPath = Path.Combine(dir, TokenizerFile);
        string infoPath = Path.Combine(dir, TokenizerInfoFile);
        ITokenizer tokenizer = File.Exists(infoPath) ? HfTokenizer.Load(tokPath, HfTokenizer.ReadInfo(infoPath)) : ByteLevelBpeTokenizer.Load(tokPath);
        if (tokenizer.VocabSize > model.VocabSize)
            throw new InvalidDataException($"{tokPath}: has {tokenizer.VocabSize} token ids but {Path.Combine(dir, ConfigFile)} says model.vocab_size is {model.VocabSize}; the two files are not from one checkpoint");
        return tokenizer;
    }

    /// <summary>
    /// The pretraining data section and seed behind a checkpoint: its own for a pretraining run, its base model's for a
    /// finetuning run (whose <c>data</c> section describes the fact stream instead); defaults when neither is known.
    /// </summary>
    public static (DataConfig Data, int Seed) PretrainingData(LoadedModel loaded) => PretrainingData(loaded.RunConfig, loaded.Directory);

    static (DataConfig Data, int Seed) PretrainingData(JsonNode cfg, string dir)
    {
        // Only config.json files are read while following base_model links (no weights are loaded).
        if (cfg["base_model"]?.GetValue<string>() is { Length: > 0 } baseDir)
            return File.Exists(Path.Combine(baseDir, ConfigFile)) ? PretrainingData(ReadModelConfig(baseDir).Tree, baseDir) : (new DataConfig(), 1);
        int seed = cfg["seed"]?.GetValue<int>() ?? 1;
        if (cfg["data"] is not JsonNode node) return (new DataConfig(), seed);
        try { return (node.Deserialize<DataConfig>(ConfigLoader.Json) ?? new DataConfig(), seed); }
        catch (JsonException e) { throw new InvalidDataException($"{Path.Combine(dir, ConfigFile)}: data section is invalid ({e.Message})"); }
    }

    /// <summary>Copies the tokenizer files (<c>tokenizer.json</c>, and <c>tokenizer_info.json</c> when present) of one run folder into another, atomically; files already there are kept.</summary>
    public static void CopyTokenizer(string fromDir, string toDir)
    {
        foreach (string name in new[] { TokenizerFile, TokenizerInfoFile })
        {
            string from = Path.Combine(fromDir, name), to = Path.Combine(toDir, name);
            if (File.Exists(from) && !File.Exists(to)) AtomicFile.Copy(from, to);
        }
    }

    /// <summary>SHA-256 (hex) of the weights file: ties derived files (e.g. background statistics) to one checkpoint.</summary>
    public static string Fingerprint(string dir)
    {
        using var s = File.OpenRead(Path.Combine(dir, ModelFile));
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }
}
