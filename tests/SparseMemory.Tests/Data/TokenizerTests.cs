using SparseMemory.Checkpoints;
using System.Text;
using CsCheck;
using SparseMemory.Data;
using Xunit;

namespace SparseMemory.Tests.Data;

public sealed class TokenizerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "smf-tok-" + Guid.NewGuid().ToString("N"));

    public TokenizerTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A small mixed corpus: English prose, numbers, punctuation, some non-ASCII.</summary>
    internal static IReadOnlyList<string> SmallCorpus { get; } = BuildCorpus();

    private static IReadOnlyList<string> BuildCorpus()
    {
        string[] sentences =
        [
            "The quick brown fox jumps over the lazy dog.",
            "It was the best of times, it was the worst of times.",
            "Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about.",
            "In 1969, Apollo 11 landed on the Moon; the crew returned on July 24th.",
            "She said: \"don't stop\" and they'll keep going -- won't they?",
            "Paris is the capital of France. Berlin is the capital of Germany.",
            "Café, naïve, Zürich — and 東京 (Tokyo) are names with non-ASCII letters.",
            "    indented line\twith a tab\nand a newline\r\n",
        ];
        var docs = new List<string>();
        for (int i = 0; i < 40; i++) docs.Add(string.Join(" ", sentences.Skip(i % sentences.Length).Concat(sentences.Take(i % 3))));
        return docs;
    }

    private static readonly Lazy<ByteLevelBpeTokenizer> Trained = new(() => ByteLevelBpeTokenizer.Train(SmallCorpus, 400));

    /// <summary>Maps a generated UTF-16 string to a well-formed one (lone surrogates → U+FFFD), i.e. any valid UTF-8 text.</summary>
    private static string WellFormed(string s) => Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(s));

    private static readonly Gen<string> CodePointString =
        Gen.Int[0, 0x10FFFF].Where(cp => cp is < 0xD800 or > 0xDFFF).Array[0, 40]
           .Select(cps => string.Concat(cps.Select(char.ConvertFromUtf32)));

    private static readonly Gen<string> EmojiCjkString =
        Gen.OneOf(
                Gen.Int[0x1F300, 0x1FAFF].Select(char.ConvertFromUtf32),            // emoji
                Gen.Int[0x4E00, 0x9FFF].Select(char.ConvertFromUtf32),              // CJK
                Gen.Int[0x20000, 0x2A6DF].Select(char.ConvertFromUtf32),            // CJK ext. B (surrogate pairs)
                Gen.Int[0, 0x1F].Select(char.ConvertFromUtf32),                     // control chars
                Gen.OneOf<string>(" ", "  ", "   ", "\n", "\r\n", "\t", "\u00A0", "\u200D", "\uFE0F", "'s", "'ll", "<|endoftext|>", "<|pad|>", "the", " the", "e\u0301"))
           .Array[0, 30].Select(parts => string.Concat(parts));

    [Fact]
    public void Should_round_trip_arbitrary_strings()
    {
        var tok = Trained.Value;
        Gen.String.Select(WellFormed).Sample(s => Assert.Equal(s, tok.Decode(tok.Encode(s))), iter: 400, threads: 1);
        CodePointString.Sample(s => Assert.Equal(s, tok.Decode(tok.Encode(s))), iter: 400, threads: 1);
        EmojiCjkString.Sample(s => Assert.Equal(s, tok.Decode(tok.Encode(s))), iter: 400, threads: 1);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("   leading and trailing   ")]
    [InlineData("line1\n\n\nline2\r\n")]
    [InlineData("👩‍👩‍👧‍👦 family, 🇫🇷 flag, 東京タワー, ¿qué?")]
    [InlineData("\0\u0001\u007F\u0085\u2028")]
    public void Should_round_trip_edge_cases(string text)
    {
        var tok = Trained.Value;
        Assert.Equal(text, tok.Decode(tok.Encode(text)));
    }

    [Fact]
    public void Should_never_encode_special_tokens()
    {
        var tok = Trained.Value;
        EmojiCjkString.Sample(s =>
        {
            int[] ids = tok.Encode(s);
            Assert.DoesNotContain(tok.EosId, ids);
            Assert.DoesNotContain(tok.PadId, ids);
        }, iter: 300, threads: 1);
        int[] direct = tok.Encode("<|endoftext|><|pad|>");
        Assert.DoesNotContain(tok.EosId, direct);
        Assert.Equal("<|endoftext|><|pad|>", tok.Decode(direct));
    }

    [Fact]
    public void Should_decode_eos_as_text_and_skip_pad()
    {
        var tok = Trained.Value;
        int[] ids = [.. tok.Encode("a"), tok.EosId, tok.PadId, .. tok.Encode("b"), tok.PadId];
        Assert.Equal("a<|endoftext|>b", tok.Decode(ids));
    }

    [Fact]
    public void Should_respect_vocab_size_and_layout()
    {
        var tok = Trained.Value;
        Assert.Equal(400, tok.VocabSize);
        Assert.Equal(256, tok.EosId);
        Assert.Equal(257, tok.PadId);
        foreach (string doc in SmallCorpus) Assert.All(tok.Encode(doc), id => Assert.InRange(id, 0, tok.VocabSize - 1));
        // Merges actually compress: fewer tokens than UTF-8 bytes.
        Assert.True(tok.Encode(SmallCorpus[0]).Length < Encoding.UTF8.GetByteCount(SmallCorpus[0]) / 2);

        var tiny = ByteLevelBpeTokenizer.Train(["ab ab ab"], 100_000);
        Assert.True(tiny.VocabSize < 300, "training stops when no pair occurs twice");
        Assert.Throws<ArgumentOutOfRangeException>(() => ByteLevelBpeTokenizer.Train(SmallCorpus, 257));
        Assert.Throws<ArgumentException>(() => ByteLevelBpeTokenizer.Train(SmallCorpus, 300, ["###"]));
    }

    [Fact]
    public void Should_train_deterministically()
    {
        string a = Path.Combine(_dir, "a.json"), b = Path.Combine(_dir, "b.json");
        ByteLevelBpeTokenizer.Train(SmallCorpus, 350).SaveTokenizer(a);
        ByteLevelBpeTokenizer.Train(SmallCorpus, 350).SaveTokenizer(b);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
    }

    [Fact]
    public void Should_save_and_load_identically()
    {
        var tok = Trained.Value;
        string path = Path.Combine(_dir, "tokenizer.json");
        tok.SaveTokenizer(path);
        Assert.False(File.Exists(path + ".tmp"));
        var loaded = ByteLevelBpeTokenizer.Load(path);
        Assert.Equal(tok.VocabSize, loaded.VocabSize);
        Assert.Equal(tok.EosId, loaded.EosId);
        Assert.Equal(tok.PadId, loaded.PadId);
        foreach (string doc in SmallCorpus) Assert.Equal(tok.Encode(doc), loaded.Encode(doc));

        string again = Path.Combine(_dir, "again.json");
        loaded.SaveTokenizer(again);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(again));

        string json = File.ReadAllText(path);
        Assert.Contains("\"type\": \"BPE\"", json);
        Assert.Contains("\"type\": \"ByteLevel\"", json);
        Assert.Contains("\"add_prefix_space\": false", json);
        Assert.Contains("\"content\": \"<|endoftext|>\"", json);
    }

    [Fact]
    public void Should_merge_by_count_then_ordinal_order()
    {
        // "ab" occurs 3x, "cd" 3x: the tie is broken by ordinal order, so "a"+"b" is merged first.
        var tok = ByteLevelBpeTokenizer.Train(["cd ab cd ab cd ab"], 259);
        Assert.Equal("ab", tok.IdToToken(258));
    }

    [Theory]
    [InlineData("{\n  \"model\": {\n  \"type\": ", "not valid JSON (line 3)")]
    [InlineData("", "not valid JSON")]
    [InlineData("{\"model\": {\"type\": \"WordPiece\"}}", "expected 'BPE'")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"merges\": []}}", "missing field 'vocab'")]
    [InlineData("[1, 2]", "expected a JSON object")]
    public void Should_reject_corrupt_files_with_a_clear_message(string content, string expected)
    {
        string path = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(path, content);
        var e = Assert.Throws<InvalidDataException>(() => ByteLevelBpeTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Should_reject_truncated_and_missing_files()
    {
        string path = Path.Combine(_dir, "tokenizer.json");
        Trained.Value.SaveTokenizer(path);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => ByteLevelBpeTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not valid JSON", e.Message);

        string missing = Path.Combine(_dir, "nope", "tokenizer.json");
        var m = Assert.Throws<InvalidDataException>(() => ByteLevelBpeTokenizer.Load(missing));
        Assert.Contains(missing, m.Message);
    }

    [Fact]
    public void Should_match_a_naive_recount_everything_reference_trainer()
    {
        var tok = ByteLevelBpeTokenizer.Train(SmallCorpus, 420);
        List<string> expected = NaiveTrain(SmallCorpus, 420 - 258);
        Assert.Equal(expected, Enumerable.Range(258, tok.VocabSize - 258).Select(tok.IdToToken));
    }

    /// <summary>Slow, obviously correct BPE: recount every pair before every merge.
    /// Returns the new token strings in id order.</summary>
    private static List<string> NaiveTrain(IEnumerable<string> texts, int maxNewTokens)
    {
        var regex = new System.Text.RegularExpressions.Regex(ByteLevelBpeTokenizer.Gpt2Pattern);
        var words = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string t in texts)
            foreach (System.Text.RegularExpressions.Match m in regex.Matches(t))
                words[m.Value] = words.GetValueOrDefault(m.Value) + 1;
        var split = words.Select(kv => (Symbols: Encoding.UTF8.GetBytes(kv.Key).Select(b => ByteLevelBpeTokenizer.ByteToUnicode[b].ToString()).ToList(), Count: kv.Value)).ToList();
        var known = new HashSet<string>(StringComparer.Ordinal);
        var added = new List<string>();
        while (added.Count < maxNewTokens)
        {
            var counts = new Dictionary<(string, string), long>();
            foreach (var (sym, count) in split)
                for (int i = 0; i + 1 < sym.Count; i++) counts[(sym[i], sym[i + 1])] = counts.GetValueOrDefault((sym[i], sym[i + 1])) + count;
            if (counts.Count == 0) break;
            var best = counts.OrderByDescending(kv => kv.Value)
                             .ThenBy(kv => kv.Key.Item1, StringComparer.Ordinal)
                             .ThenBy(kv => kv.Key.Item2, StringComparer.Ordinal).First();
            if (best.Value < 2) break;
            var (a, b) = best.Key;
            if (known.Add(a + b)) added.Add(a + b);
            foreach (var (sym, _) in split)
                for (int i = 0; i + 1 < sym.Count; i++)
                    if (sym[i] == a && sym[i + 1] == b) { sym[i] = a + b; sym.RemoveAt(i + 1); }
        }
        return added;
    }
}
