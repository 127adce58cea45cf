using System.IO.Compression;
using System.Text;
using System.Text.Json;
using SparseMemory.Config;

namespace SparseMemory.Data.Facts;

/// <summary>
/// Facts on disk: JSONL (optionally gzip'd), one object per line with the fields of <see cref="Fact"/> in snake_case:
/// <c>{"id","subject","relation","object","aliases":[…],"question","statements":[…],"source"}</c>.
/// The committed fact sets are embedded in the library (<see cref="ReadEmbedded"/>). <see cref="ReadNamedOrFile"/> also
/// accepts a question–answer JSONL in the TriviaQA benchmark's format (<c>{"context": "Question: …\nAnswer:", "answer",
/// "aliases"}</c>) and turns each item into a fact with the statement rules of <see cref="TriviaQaStatements"/>.
/// </summary>
public static class FactsFile
{
    static readonly JsonSerializerOptions Json = ConfigLoader.JsonLine;

    /// <summary>Reads every fact of a <c>.jsonl</c> or <c>.jsonl.gz</c> file.</summary>
    public static IReadOnlyList<Fact> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: facts file not found", path);
        using var fs = File.OpenRead(path);
        return Read(fs, path, path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Reads facts from a stream; <paramref name="displayName"/> names it in errors.</summary>
    public static IReadOnlyList<Fact> Read(Stream stream, string displayName, bool gzip)
    {
        using var s = gzip ? GzipInput.Open(stream, displayName, leaveOpen: true) : stream;
        using var r = new StreamReader(s, Encoding.UTF8);
        var facts = new List<Fact>();
        var ids = new HashSet<string>();
        int lineNo = 0;
        for (string? line; (line = r.ReadLine()) is not null;)
        {
            lineNo++;
            if (line.Length == 0) continue;
            Fact? f;
            try { f = JsonSerializer.Deserialize<Fact>(line, Json); }
            catch (JsonException e) { throw new InvalidDataException($"{displayName}:{lineNo}: not a fact object ({e.Message}); expected {{\"id\",\"subject\",\"relation\",\"object\",\"aliases\",\"question\",\"statements\",\"source\"}}"); }
            if (f is null || string.IsNullOrWhiteSpace(f.Id) || f.Statements is not { Count: > 0 } || f.Aliases is null || string.IsNullOrWhiteSpace(f.Question))
                throw new InvalidDataException($"{displayName}:{lineNo}: a fact needs a non-empty id, question, aliases and at least one statement");
            if (f.Aliases.Count == 0 || f.Aliases.Any(string.IsNullOrWhiteSpace))
                throw new InvalidDataException($"{displayName}:{lineNo}: fact \"{f.Id}\" has {(f.Aliases.Count == 0 ? "no aliases" : "a blank alias")}; \"aliases\" lists every accepted answer, the object included (e.g. [\"{f.Object}\"])");
            if (!ids.Add(f.Id)) throw new InvalidDataException($"{displayName}:{lineNo}: duplicate fact id \"{f.Id}\"");
            facts.Add(f);
        }
        if (facts.Count == 0) throw new InvalidDataException($"{displayName}: no facts");
        return facts;
    }

    /// <summary>
    /// Writes facts as JSONL to <paramref name="stream"/> (gzip'd when <paramref name="gzip"/>; deterministic bytes).
    /// Files are written through the persistence layer (<c>Checkpoints.DataFiles.WriteFacts</c>), which makes the write atomic.
    /// </summary>
    public static void WriteTo(Stream stream, IEnumerable<Fact> facts, bool gzip)
    {
        using Stream s = gzip ? new GZipStream(stream, CompressionLevel.SmallestSize, leaveOpen: true) : new NonClosing(stream);
        using var w = new StreamWriter(s, new UTF8Encoding(false)) { NewLine = "\n" };
        foreach (var f in facts) w.WriteLine(JsonSerializer.Serialize(f, Json));
    }

    /// <summary>Names of the embedded fact sets (e.g. "known", "new").</summary>
    public static IReadOnlyList<string> EmbeddedNames =>
        typeof(FactsFile).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("SparseMemory.facts.", StringComparison.Ordinal))
            .Select(n => n["SparseMemory.facts.".Length..^".jsonl.gz".Length]).Order().ToArray();

    /// <summary>Reads an embedded fact set (files <c>data/facts/NAME.jsonl.gz</c>).</summary>
    public static IReadOnlyList<Fact> ReadEmbedded(string name)
    {
        using Stream? s = typeof(FactsFile).Assembly.GetManifestResourceStream($"SparseMemory.facts.{name}.jsonl.gz")
            ?? throw new FileNotFoundException($"no embedded fact set \"{name}\"; available: {string.Join(", ", EmbeddedNames)}");
        return Read(s, $"embedded facts {name}", gzip: true);
    }

    /// <summary>"known", "new" etc. name an embedded set; anything else is a file path.</summary>
    public static IReadOnlyList<Fact> ReadNamedOrFile(string nameOrPath)
    {
        if (EmbeddedNames.Contains(nameOrPath)) return ReadEmbedded(nameOrPath);
        if (IsTriviaQaFile(nameOrPath))
        {
            // A question–answer file as the TriviaQA benchmark ships it: every item becomes a fact whose statements come
            // from the project's statement rules (docs/data.md#triviaqa-stream).
            var items = Benchmarks.TriviaQa.Read(nameOrPath);
            return FactStream.FromItems(items, items.Count, sourceName: Path.GetFileName(nameOrPath)).Facts;
        }
        return Read(nameOrPath);
    }

    /// <summary>
    /// Whether <paramref name="path"/> is a TriviaQA-format JSONL (its first object has <c>context</c> and <c>answer</c>
    /// and no <c>statements</c>) rather than a facts file.
    /// </summary>
    public static bool IsTriviaQaFile(string path)
    {
        if (!File.Exists(path)) return false;
        using var fs = File.OpenRead(path);
        using Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? GzipInput.Open(fs, path, leaveOpen: false) : fs;
        using var r = new StreamReader(s, Encoding.UTF8);
        for (string? line; (line = r.ReadLine()) is not null;)
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var o = doc.RootElement;
                return o.ValueKind == JsonValueKind.Object && o.TryGetProperty("context", out _) && o.TryGetProperty("answer", out _)
                       && !o.TryGetProperty("statements", out _);
            }
            catch (JsonException) { return false; }                 // the facts reader reports the line with a clear message
        }
        return false;
    }

    sealed class NonClosing(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    }
}
