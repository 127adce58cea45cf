using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace SparseMemory.Data;

/// <summary>
/// A GPT-2 style byte-level BPE tokenizer: our own deterministic trainer, Hugging Face
/// <c>tokenizer.json</c> persistence, and encoding/decoding through Microsoft.ML.Tokenizers.
/// </summary>
/// <remarks>
/// <para>Id layout: 0–255 are the byte symbols (id = byte value, written in the GPT-2 byte→unicode
/// alphabet), then the special tokens (default <c>&lt;|endoftext|&gt;</c> = <see cref="EosId"/>,
/// <c>&lt;|pad|&gt;</c> = <see cref="PadId"/>), then one token per merge in training order.</para>
/// <para>Special tokens are never produced by <see cref="Encode"/>: their text is encoded as plain
/// bytes, so a document that happens to contain "&lt;|endoftext|&gt;" cannot inject a separator. Callers
/// insert <see cref="EosId"/> themselves. (A Python <c>tokenizers</c> user loading the same file gets
/// the usual HF behaviour of matching added tokens in text; ids are otherwise identical.)</para>
/// </remarks>
public sealed class ByteLevelBpeTokenizer : ITokenizer
{
    /// <summary>The default special tokens: end-of-text (BOS/EOS/document separator) and padding.</summary>
    public static readonly IReadOnlyList<string> DefaultSpecialTokens = ["<|endoftext|>", "<|pad|>"];

    /// <summary>GPT-2's pre-tokenization pattern, as used by HF's ByteLevel pre-tokenizer (use_regex = true).
    /// Every character matches one of the alternatives, so pre-tokens always cover the whole text.</summary>
    internal const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly Regex PreTokenRegex = new(Gpt2Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);

    private readonly string[] _tokens;                  // id → token string (byte-level alphabet, or raw special text)
    private readonly (string Left, string Right)[] _merges;
    private readonly Dictionary<int, string> _specialById;
    private readonly BpeTokenizer _bpe;

    private ByteLevelBpeTokenizer(string[] tokens, (string, string)[] merges, IReadOnlyList<string> specials)
    {
        _tokens = tokens;
        _merges = merges;
        var vocab = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int id = 0; id < tokens.Length; id++)
        {
            if (!vocab.TryAdd(tokens[id], id))
                throw new InvalidDataException($"duplicate vocabulary entry '{tokens[id]}' (ids {vocab[tokens[id]]} and {id})");
        }
        _specialById = new Dictionary<int, string>();
        foreach (string s in specials)
        {
            if (!vocab.TryGetValue(s, out int id))
                throw new InvalidDataException($"special token '{s}' is missing from the vocabulary");
            _specialById[id] = s;
        }
        SpecialTokens = specials;
        EosId = vocab[specials[0]];
        PadId = specials.Count > 1 ? vocab[specials[1]] : EosId;

        // Special tokens are deliberately not passed to ML.Tokenizers (neither as SpecialTokens nor to the
        // pre-tokenizer): that is what keeps Encode from ever emitting them. The GPT-2 regex splits
        // "<|endoftext|>" into "<|", "endoftext", "|>", so the whole-string vocab entry can never match.
        _bpe = BpeTokenizer.Create(new BpeOptions(vocab)
        {
            Merges = merges.Select(m => m.Item1 + " " + m.Item2),
            PreTokenizer = new RegexPreTokenizer(PreTokenRegex, specialTokens: null),
            ByteLevel = true,
        });
    }

    /// <summary>Number of tokens (bytes + specials + merged tokens).</summary>
    public int VocabSize => _tokens.Length;

    /// <summary>Id of <c>&lt;|endoftext|&gt;</c> (the first special token): BOS, EOS and document separator.</summary>
    public int EosId { get; }

    /// <summary>Only <see cref="EosId"/>: a native model ends every text with <c>&lt;|endoftext|&gt;</c>.</summary>
    public IReadOnlyList<int> EosIds => [EosId];

    /// <summary>Id of <c>&lt;|pad|&gt;</c> (the second special token); skipped by <see cref="Decode"/>.</summary>
    public int PadId { get; }

    /// <summary>None: native sequences start with <see cref="EosId"/> (the document separator).</summary>
    public int? BosId => null;

    /// <summary>The special tokens, in id order.</summary>
    public IReadOnlyList<string> SpecialTokens { get; }

    /// <summary>Number of merge rules.</summary>
    public int MergeCount => _merges.Length;

    /// <summary>Encodes text to ids. Adds no special tokens and never produces one.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return [];
        IReadOnlyList<int> ids = _bpe.EncodeToIds(text, considerPreTokenization: true, considerNormalization: false);
        return ids as int[] ?? [.. ids];
    }

    /// <summary>Decodes ids to text. Pad ids are skipped; other special ids are rendered as their text.
    /// Lossless: <c>Decode(Encode(s)) == s</c> for every well-formed UTF-16 string.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var sb = new StringBuilder();
        var run = new List<int>();
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_tokens.Length)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id outside the vocabulary [0, {_tokens.Length})");
            if (id == PadId) continue;
            if (_specialById.TryGetValue(id, out string? special))
            {
                Flush();
                sb.Append(special);
            }
            else run.Add(id);
        }
        Flush();
        return sb.ToString();

        // A byte-level token may hold part of a UTF-8 sequence, so normal tokens are decoded per run.
        void Flush()
        {
            if (run.Count == 0) return;
            sb.Append(_bpe.Decode(run));
            run.Clear();
        }
    }

    /// <summary>The token string of an id (byte-level alphabet; for display and debugging).</summary>
    public string IdToToken(int id) => _tokens[id];

    // ------------------------------------------------------------------------------------------
    // Training
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// Trains a byte-level BPE vocabulary of at most <paramref name="vocabSize"/> tokens
    /// (256 bytes + specials + merges). Deterministic: the pair to merge is the one with the highest
    /// count, ties broken by the ordinal order of (left token, right token). Training stops early when
    /// no pair occurs at least twice.
    /// </summary>
    public static ByteLevelBpeTokenizer Train(IEnumerable<string> texts, int vocabSize, IReadOnlyList<string>? specialTokens = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        IReadOnlyList<string> specials = specialTokens ?? DefaultSpecialTokens;
        if (specials.Count == 0) throw new ArgumentException("at least one special token (end-of-text) is required", nameof(specialTokens));
        if (specials.Distinct(StringComparer.Ordinal).Count() != specials.Count) throw new ArgumentException("special tokens must be distinct", nameof(specialTokens));
        int baseCount = 256 + specials.Count;
        if (vocabSize < baseCount)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, $"must be at least {baseCount} (256 bytes + {specials.Count} special tokens)");

        var tokens = new List<string>(vocabSize);
        for (int b = 0; b < 256; b++) tokens.Add(ByteToUnicode[b].ToString());
        foreach (string s in specials)
        {
            // A special that is a single pre-token (e.g. "###") could also be built by merges, and would then
            // be emitted by Encode. Specials like "<|name|>" mix punctuation and letters, so they never are.
            Match m = PreTokenRegex.Match(s);
            if (s.Length == 0 || (m.Index == 0 && m.Length == s.Length))
                throw new ArgumentException($"special token '{s}' could be produced by ordinary merges; use a form like '<|name|>'", nameof(specialTokens));
            tokens.Add(s);
        }

        var trainer = new BpeTrainer(CountWords(texts), tokens);
        var merges = trainer.Run(vocabSize);
        return new ByteLevelBpeTokenizer([.. tokens], [.. merges], specials);
    }

    private static Dictionary<string, int> CountWords(IEnumerable<string> texts)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (string text in texts)
        {
            if (string.IsNullOrEmpty(text)) continue;
            foreach (ValueMatch m in PreTokenRegex.EnumerateMatches(text))
            {
                ReadOnlySpan<char> word = text.AsSpan(m.Index, m.Length);
                lookup.TryGetValue(word, out int c);
                lookup[word] = c + 1;
            }
        }
        return counts;
    }

    /// <summary>Incremental pair-count BPE: pair counts and a pair → words index are updated only for
    /// the words touched by each merge; a lazily invalidated max-heap picks the next pair.</summary>
    private sealed class BpeTrainer
    {
        private readonly List<string> _tokens;
        private readonly Dictionary<string, int> _idByToken;
        private readonly List<int[]> _symbols = [];     // per distinct word: its current symbol ids
        private readonly List<int> _lengths = [];       // live prefix length of each _symbols entry
        private readonly List<long> _freq = [];
        private readonly Dictionary<long, long> _pairCount = [];
        private readonly Dictionary<long, List<int>> _pairWords = [];
        private readonly PriorityQueue<long, (long Count, long Pair)> _heap;

        public BpeTrainer(Dictionary<string, int> wordCounts, List<string> tokens)
        {
            _tokens = tokens;
            _idByToken = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < tokens.Count; i++) _idByToken.TryAdd(tokens[i], i);
            _heap = new PriorityQueue<long, (long Count, long Pair)>(Comparer<(long Count, long Pair)>.Create(ComparePriority));

            // Words in ordinal order so that every internal list is built the same way on every run.
            foreach (var (word, count) in wordCounts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                byte[] bytes = Encoding.UTF8.GetBytes(word);
                int w = _symbols.Count;
                _symbols.Add([.. bytes.Select(b => (int)b)]);
                _lengths.Add(bytes.Length);
                _freq.Add(count);
                for (int i = 0; i + 1 < bytes.Length; i++)
                {
                    long p = Key(bytes[i], bytes[i + 1]);
                    _pairCount[p] = _pairCount.GetValueOrDefault(p) + count;
                    Index(p, w);
                }
            }
            foreach (var (p, c) in _pairCount) _heap.Enqueue(p, (c, p));
        }

        public List<(string, string)> Run(int vocabSize)
        {
            var merges = new List<(string, string)>();
            var stamp = new int[_symbols.Count];
            int mergeNo = 0;
            var touched = new HashSet<long>();
            while (_tokens.Count < vocabSize && _heap.TryDequeue(out long pair, out var prio))
            {
                long current = _pairCount.GetValueOrDefault(pair);
                if (current != prio.Count)
                {
                    // Stale entry: counts only ever decrease for existing pairs, so re-queue the true count.
                    if (current > 0) _heap.Enqueue(pair, (current, pair));
                    continue;
                }
                if (current < 2) break;

                int a = (int)(pair >> 32), b = (int)pair;
                string merged = _tokens[a] + _tokens[b];
                if (!_idByToken.TryGetValue(merged, out int c))
                {
                    c = _tokens.Count;
                    _tokens.Add(merged);
                    _idByToken.Add(merged, c);
                }
                merges.Add((_tokens[a], _tokens[b]));
                mergeNo++;

                touched.Clear();
                foreach (int w in _pairWords[pair])
                {
                    if (stamp[w] == mergeNo) continue;  // the index may list a word more than once
                    stamp[w] = mergeNo;
                    MergeInWord(w, a, b, c, touched);
                }
                _pairWords.Remove(pair);
                _pairCount.Remove(pair);
                foreach (long p in touched)
                {
                    long cnt = _pairCount.GetValueOrDefault(p);
                    if (cnt > 0) _heap.Enqueue(p, (cnt, p));
                }
            }
            return merges;
        }

        private void MergeInWord(int w, int a, int b, int c, HashSet<long> touched)
        {
            int[] s = _symbols[w];
            int n = _lengths[w];
            long f = _freq[w];
            bool found = false;
            for (int i = 0; i + 1 < n; i++) if (s[i] == a && s[i + 1] == b) { found = true; break; }
            if (!found) return;   // stale index entry

            // Remove this word's pairs, merge left to right, add its pairs back. Net change is zero for
            // pairs that survive; only pairs that contain the new token c can grow.
            for (int i = 0; i + 1 < n; i++) _pairCount[Key(s[i], s[i + 1])] -= f;
            int o = 0;
            for (int i = 0; i < n; i++)
            {
                if (i + 1 < n && s[i] == a && s[i + 1] == b) { s[o++] = c; i++; }
                else s[o++] = s[i];
            }
            _lengths[w] = o;
            for (int i = 0; i + 1 < o; i++)
            {
                long p = Key(s[i], s[i + 1]);
                _pairCount[p] = _pairCount.GetValueOrDefault(p) + f;
                if (s[i] == c || s[i + 1] == c)
                {
                    Index(p, w);
                    touched.Add(p);
                }
            }
        }

        private void Index(long p, int w)
        {
            if (!_pairWords.TryGetValue(p, out var list)) _pairWords[p] = list = [];
            if (list.Count == 0 || list[^1] != w) list.Add(w);
        }

        // Higher count first; ties by ordinal (left token, right token). PriorityQueue is a min-heap.
        private int ComparePriority((long Count, long Pair) x, (long Count, long Pair) y)
        {
            int c = y.Count.CompareTo(x.Count);
            if (c != 0) return c;
            c = string.CompareOrdinal(_tokens[(int)(x.Pair >> 32)], _tokens[(int)(y.Pair >> 32)]);
            if (c != 0) return c;
            return string.CompareOrdinal(_tokens[(int)x.Pair], _tokens[(int)y.Pair]);
        }

        private static long Key(int a, int b) => ((long)a << 32) | (uint)b;
    }

    // ------------------------------------------------------------------------------------------
    // GPT-2 byte ↔ unicode alphabet
    // ------------------------------------------------------------------------------------------

    /// <summary>GPT-2's reversible byte → printable character map: printable Latin-1 bytes map to
    /// themselves, the rest to U+0100 onwards in byte order.</summary>
    internal static readonly char[] ByteToUnicode = BuildByteToUnicode();

    private static char[] BuildByteToUnicode()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    // ------------------------------------------------------------------------------------------
    // tokenizer.json (Hugging Face `tokenizers` format)
    // ------------------------------------------------------------------------------------------

    /// <summary>Writes the tokenizer as a Hugging Face <c>tokenizer.json</c> (loadable with
    /// <c>tokenizers.Tokenizer.from_file</c>) to <paramref name="stream"/>. Files are written through the persistence
    /// layer (<c>Checkpoints.DataFiles.SaveTokenizer</c>), which makes the write atomic.</summary>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions
        {
            Indented = true,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        });
        WriteJson(json);
    }

    private void WriteJson(Utf8JsonWriter j)
    {
        j.WriteStartObject();
        j.WriteString("version", "1.0");
        j.WriteNull("truncation");
        j.WriteNull("padding");
        j.WriteStartArray("added_tokens");
        foreach (var (id, content) in _specialById.OrderBy(kv => kv.Key))
        {
            j.WriteStartObject();
            j.WriteNumber("id", id);
            j.WriteString("content", content);
            j.WriteBoolean("single_word", false);
            j.WriteBoolean("lstrip", false);
            j.WriteBoolean("rstrip", false);
            j.WriteBoolean("normalized", false);
            j.WriteBoolean("special", true);
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteNull("normalizer");
        WriteByteLevel(j, "pre_tokenizer", addPrefixSpace: false);
        j.WriteNull("post_processor");
        WriteByteLevel(j, "decoder", addPrefixSpace: false);
        j.WriteStartObject("model");
        j.WriteString("type", "BPE");
        j.WriteNull("dropout");
        j.WriteNull("unk_token");
        j.WriteNull("continuing_subword_prefix");
        j.WriteNull("end_of_word_suffix");
        j.WriteBoolean("fuse_unk", false);
        j.WriteBoolean("byte_fallback", false);
        j.WriteBoolean("ignore_merges", false);
        j.WriteStartObject("vocab");
        for (int id = 0; id < _tokens.Length; id++) j.WriteNumber(_tokens[id], id);
        j.WriteEndObject();
        // "a b" strings: readable by every tokenizers version (the pair-array form needs >= 0.20).
        j.WriteStartArray("merges");
        foreach (var (l, r) in _merges) j.WriteStringValue(l + " " + r);
        j.WriteEndArray();
        j.WriteEndObject();
        j.WriteEndObject();
    }

    private static void WriteByteLevel(Utf8JsonWriter j, string name, bool addPrefixSpace)
    {
        j.WriteStartObject(name);
        j.WriteString("type", "ByteLevel");
        j.WriteBoolean("add_prefix_space", addPrefixSpace);
        j.WriteBoolean("trim_offsets", true);
        j.WriteBoolean("use_regex", true);
        j.WriteEndObject();
    }

    /// <summary>Loads a <c>tokenizer.json</c> written by <see cref="Save"/> (or any HF byte-level BPE file with
    /// the same layout). Throws <see cref="InvalidDataException"/> naming the file for anything missing or malformed.</summary>
    public static ByteLevelBpeTokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        const string Fix = "re-run pretraining or copy the file from the checkpoint";
        if (!File.Exists(path))
            throw new InvalidDataException($"{path}: tokenizer file not found — {Fix}");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON (line {e.LineNumber + 1}) — {Fix}", e);
        }
        using (doc)
        {
            try
            {
                return FromJson(doc.RootElement);
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
            {
                throw new InvalidDataException($"{path}: not a byte-level BPE tokenizer.json: {e.Message} — {Fix}", e);
            }
        }
    }

    private static ByteLevelBpeTokenizer FromJson(JsonElement root)
    {
        JsonElement model = Required(root, "model", JsonValueKind.Object);
        string? type = Required(model, "type", JsonValueKind.String).GetString();
        if (type != "BPE") throw new InvalidDataException($"model.type is '{type}', expected 'BPE'");
        if (root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object
            && pre.TryGetProperty("type", out var preType) && preType.GetString() != "ByteLevel")
            throw new InvalidDataException($"pre_tokenizer.type is '{preType.GetString()}', expected 'ByteLevel'");

        JsonElement vocab = Required(model, "vocab", JsonValueKind.Object);
        var byId = new SortedDictionary<int, string>();
        foreach (JsonProperty p in vocab.EnumerateObject())
        {
            int id = p.Value.GetInt32();
            if (!byId.TryAdd(id, p.Name)) throw new InvalidDataException($"model.vocab has id {id} twice");
        }
        if (byId.Count < 257 || byId.Keys.First() != 0 || byId.Keys.Last() != byId.Count - 1)
            throw new InvalidDataException($"model.vocab must hold contiguous ids 0..N-1 including the 256 byte symbols (found {byId.Count} entries)");
        string[] tokens = [.. byId.Values];
        for (int b = 0; b < 256; b++)
        {
            if (tokens[b] != ByteToUnicode[b].ToString())
                throw new InvalidDataException($"model.vocab id {b} is '{tokens[b]}', expected the byte-level symbol for byte {b}");
        }

        var merges = new List<(string, string)>();
        foreach (JsonElement m in Required(model, "merges", JsonValueKind.Array).EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.String)
            {
                string s = m.GetString()!;
                int sp = s.IndexOf(' ');
                if (sp <= 0 || sp == s.Length - 1 || s.IndexOf(' ', sp + 1) >= 0)
                    throw new InvalidDataException($"merge #{merges.Count} '{s}' is not of the form 'left right'");
                merges.Add((s[..sp], s[(sp + 1)..]));
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
            {
                merges.Add((m[0].GetString()!, m[1].GetString()!));
            }
            else throw new InvalidDataException($"merge #{merges.Count} is neither 'left right' nor [left, right]");
        }

        var specials = new List<string>();
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement t in added.EnumerateArray().OrderBy(t => Required(t, "id", JsonValueKind.Number).GetInt32()))
                specials.Add(Required(t, "content", JsonValueKind.String).GetString()!);
        }
        if (specials.Count == 0) throw new InvalidDataException("added_tokens is missing or empty (the end-of-text token is required)");
        return new ByteLevelBpeTokenizer(tokens, [.. merges], specials);
    }

    private static JsonElement Required(JsonElement obj, string name, JsonValueKind kind)
    {
        if (obj.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"expected a JSON object holding '{name}', found {obj.ValueKind}");
        if (!obj.TryGetProperty(name, out JsonElement v))
            throw new InvalidDataException($"missing field '{name}'");
        if (v.ValueKind != kind)
            throw new InvalidDataException($"field '{name}' is {v.ValueKind}, expected {kind}");
        return v;
    }
}
