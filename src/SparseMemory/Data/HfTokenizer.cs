using System.Text.Json;
using SparseMemory.Config;

namespace SparseMemory.Data;

/// <summary>
/// The special tokens and chat template of an imported model's tokenizer, frozen beside its <c>tokenizer.json</c>
/// (file <c>tokenizer_info.json</c>): its presence is what marks a run folder's tokenizer as a Hugging Face one.
/// </summary>
public sealed record HfTokenizerInfo
{
    /// <summary>The one kind so far.</summary>
    public const string HuggingFace = "hugging_face";

    /// <summary>Tokenizer kind: "hugging_face".</summary>
    public string Kind { get; init; } = HuggingFace;
    /// <summary>Begin-of-sequence id, or null when the model uses none.</summary>
    public int? BosId { get; init; }
    /// <summary>Whether a BOS id starts every sequence fed to the model (Llama: yes; Qwen2: no).</summary>
    public bool AddBos { get; init; }
    /// <summary>The primary end-of-sequence id: training sequences end with it, and generation stops at it.</summary>
    public int EosId { get; init; }
    /// <summary>
    /// Every id that ends a generation, <see cref="EosId"/> first, when the checkpoint names more than one
    /// (<c>eos_token_id</c> as a list; docs/own-model.md#end-of-sequence-ids); null means [<see cref="EosId"/>] (files
    /// written before the list was kept).
    /// </summary>
    public int[]? EosIds { get; init; }
    /// <summary>The BOS token's text as <c>tokenizer_config.json</c> names it (the chat template's <c>bos_token</c>); null: none named.</summary>
    public string? BosToken { get; init; }
    /// <summary>The EOS token's text as <c>tokenizer_config.json</c> names it (the chat template's <c>eos_token</c>); null: none named.</summary>
    public string? EosToken { get; init; }
    /// <summary>Padding id; null uses <see cref="EosId"/> (padding is masked and never a target).</summary>
    public int? PadId { get; init; }
    /// <summary>The Jinja chat template of <c>tokenizer_config.json</c>, kept for serving; null when there was none.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Problems as lines (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (Kind != HuggingFace) e.Add($"kind must be \"{HuggingFace}\", got \"{Kind}\"");
        if (EosId < 0) e.Add($"eos_id must be ≥ 0, got {EosId}");
        if (EosIds is { } ids)
        {
            if (ids.Length == 0 || ids[0] != EosId) e.Add($"eos_ids must start with eos_id ({EosId}), got [{string.Join(", ", ids)}]");
            if (ids.Any(i => i < 0)) e.Add($"eos_ids must all be ≥ 0, got [{string.Join(", ", ids)}]");
            if (ids.Distinct().Count() != ids.Length) e.Add($"eos_ids holds an id twice: [{string.Join(", ", ids)}]");
        }
        if (BosId is < 0) e.Add($"bos_id must be ≥ 0, got {BosId}");
        if (PadId is < 0) e.Add($"pad_id must be ≥ 0, got {PadId}");
        if (AddBos && BosId is null) e.Add("add_bos is true but bos_id is null");
        return e;
    }
}

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> run by the Hugging Face <c>tokenizers</c> library itself (its Rust code, through
/// the Tokenizers.DotNet binding), so normalizers, pre-tokenizers (byte-level, Metaspace, split patterns), byte
/// fallback and added tokens behave exactly as in Python. Only <c>model.type</c> "BPE" is accepted (the models
/// <c>smf import</c> supports all use it).
/// <para>The binding always applies the file's post-processor (e.g. Llama's template that prepends BOS). To keep the
/// <see cref="ITokenizer"/> contract (no special tokens added), the framing it adds to a single sequence is measured
/// once (the encodings of "" and of "a") and cut off every result. Added tokens written in the text (e.g.
/// "&lt;|im_start|&gt;") are matched as such, as in Python; decoding skips special tokens.</para>
/// </summary>
public sealed class HfTokenizer : ITokenizer, IDisposable
{
    readonly Tokenizers.DotNet.Tokenizer _native;
    readonly uint[] _prefix, _suffix;
    readonly HfTokenizerInfo _info;
    readonly string?[] _byId;

    HfTokenizer(Tokenizers.DotNet.Tokenizer native, int vocabSize, IReadOnlyDictionary<string, int> tokens, HfTokenizerInfo info, string path)
    {
        _native = native;
        _info = info;
        VocabSize = vocabSize;
        _byId = new string?[vocabSize];
        foreach (var (token, id) in tokens) _byId[id] = token;
        var empty = native.Encode("");
        var probe = native.Encode("a");
        int split = -1;
        for (int p = empty.Length; p >= 0 && split < 0; p--)
            if (probe.Length > empty.Length && probe.AsSpan().StartsWith(empty.AsSpan(0, p)) && probe.AsSpan().EndsWith(empty.AsSpan(p)))
                split = p;
        if (split < 0) throw new InvalidDataException($"{path}: post_processor adds tokens that are not a fixed prefix and suffix of every sequence; not supported");
        _prefix = empty[..split];
        _suffix = empty[split..];
        foreach (int id in new[] { info.EosId, info.BosId ?? 0, info.PadId ?? 0 }.Concat(info.EosIds ?? []))
            if (id >= vocabSize) throw new InvalidDataException($"{path}: special id {id} is outside the vocabulary (size {vocabSize})");
    }

    /// <inheritdoc/>
    public int VocabSize { get; }
    /// <inheritdoc/>
    public int EosId => _info.EosId;
    /// <inheritdoc/>
    public IReadOnlyList<int> EosIds => _info.EosIds ?? [_info.EosId];
    /// <inheritdoc/>
    public int PadId => _info.PadId ?? _info.EosId;
    /// <inheritdoc/>
    public int? BosId => _info.AddBos ? _info.BosId : null;
    /// <summary>The ids the file's post-processor puts before every sequence (cut off by <see cref="Encode"/>).</summary>
    public IReadOnlyList<int> FramingPrefix => _prefix.Select(u => (int)u).ToArray();
    /// <summary>The frozen special tokens and chat template.</summary>
    public HfTokenizerInfo Info => _info;

    /// <summary>The model types of <c>tokenizer.json</c> accepted.</summary>
    public static readonly IReadOnlyList<string> ModelTypes = ["BPE"];

    /// <summary>
    /// Reads <paramref name="path"/>: checks that it is JSON with a supported <c>model.type</c> and returns the number
    /// of ids it defines (largest id of <c>model.vocab</c> and <c>added_tokens</c>, plus one) and its added tokens by
    /// content. Every problem is an <see cref="InvalidDataException"/> naming the file and the field.
    /// </summary>
    public static (int VocabSize, IReadOnlyDictionary<string, int> Tokens) Inspect(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: tokenizer file not found", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON (line {e.LineNumber + 1})"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: has no \"model\" object; not a Hugging Face tokenizer.json");
            string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "(missing)";
            if (!ModelTypes.Contains(type))
                throw new InvalidDataException($"{path}: model.type is \"{type}\"; supported tokenizer model types: {string.Join(", ", ModelTypes)}");
            if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: model.vocab is missing or not an object");
            var tokens = new Dictionary<string, int>(StringComparer.Ordinal);
            int max = -1;
            foreach (var p in vocab.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                    throw new InvalidDataException($"{path}: model.vocab[\"{p.Name}\"] is not a non-negative integer id");
                tokens[p.Name] = id;
                max = Math.Max(max, id);
            }
            if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
                foreach (var a in added.EnumerateArray())
                {
                    if (a.ValueKind != JsonValueKind.Object || !a.TryGetProperty("id", out var idNode) || !idNode.TryGetInt32(out int id) || id < 0
                        || !a.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String)
                        throw new InvalidDataException($"{path}: an added_tokens entry lacks an integer id or a content string");
                    tokens[c.GetString()!] = id;
                    max = Math.Max(max, id);
                }
            if (max < 0) throw new InvalidDataException($"{path}: model.vocab is empty");
            return (max + 1, tokens);
        }
    }

    /// <summary>Loads <paramref name="path"/> with the special tokens of <paramref name="info"/>.</summary>
    public static HfTokenizer Load(string path, HfTokenizerInfo info)
    {
        var problems = info.Validate();
        if (problems.Count > 0) throw new InvalidDataException($"{path}: tokenizer info: {string.Join("; ", problems)}");
        var (vocabSize, tokens) = Inspect(path);
        Tokenizers.DotNet.Tokenizer native;
        try { native = new Tokenizers.DotNet.Tokenizer(path); }
        catch (Tokenizers.DotNet.TokenizerException e) { throw new InvalidDataException($"{path}: the tokenizers library cannot load it ({e.Message.ReplaceLineEndings(" ")})"); }
        try { return new HfTokenizer(native, vocabSize, tokens, info, path); }
        catch { native.Dispose(); throw; }
    }

    /// <summary>Reads the <c>tokenizer_info.json</c> written by <c>smf import</c> (unknown keys are errors).</summary>
    public static HfTokenizerInfo ReadInfo(string path)
    {
        HfTokenizerInfo info;
        try { info = ConfigLoader.ReadFile<HfTokenizerInfo>(path); }
        catch (ConfigException e) { throw new InvalidDataException(e.Message); }
        var problems = info.Validate();
        if (problems.Count > 0) throw new InvalidDataException($"{path}: {string.Join("; ", problems)}");
        return info;
    }

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return [];
        var ids = _native.Encode(text);
        int start = 0, end = ids.Length;
        if (ids.AsSpan().StartsWith(_prefix)) start = _prefix.Length;
        if (end - start >= _suffix.Length && ids.AsSpan(start, end - start).EndsWith(_suffix)) end -= _suffix.Length;
        var result = new int[end - start];
        for (int i = 0; i < result.Length; i++) result[i] = checked((int)ids[start + i]);
        return result;
    }

    /// <inheritdoc/>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var u = ids.Select(id => (uint)id >= (uint)VocabSize
            ? throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id outside the vocabulary [0, {VocabSize})")
            : (uint)id).ToArray();
        return u.Length == 0 ? "" : _native.Decode(u);
    }

    /// <inheritdoc/>
    public string IdToToken(int id) => _byId[id] ?? $"<unused {id}>";

    /// <inheritdoc/>
    public void Dispose() => _native.Dispose();
}
