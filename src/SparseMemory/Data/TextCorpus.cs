using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace SparseMemory.Data;

/// <summary>
/// Reads pretraining documents from plain text or JSONL files, optionally gzip'd, and exposes the
/// default corpus embedded in the library.
/// </summary>
/// <remarks>
/// Formats, chosen by file extension:
/// <list type="bullet">
/// <item><c>.txt</c> / <c>.txt.gz</c>: documents separated by one or more blank lines.</item>
/// <item><c>.jsonl</c> / <c>.jsonl.gz</c>: one JSON object per line with a string field <c>text</c>
/// (other fields, such as <c>source</c>, are ignored); blank lines are skipped.</item>
/// </list>
/// </remarks>
public static class TextCorpus
{
    /// <summary>Manifest resource name of the embedded default corpus (<c>data/corpus/default.jsonl.gz</c>).</summary>
    public const string DefaultCorpusResource = "SparseMemory.default.jsonl.gz";

    /// <summary>Display name used in error messages for the embedded default corpus.</summary>
    public const string DefaultCorpusName = "default.jsonl.gz (embedded)";

    /// <summary>Reads the documents of a <c>.txt</c>, <c>.jsonl</c>, <c>.txt.gz</c> or <c>.jsonl.gz</c> file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">A malformed JSONL line, an unknown extension or no documents.</exception>
    public static IEnumerable<string> ReadDocuments(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"{path}: corpus file not found — check the path, or run scripts/get-data.sh and " +
                "'dotnet run --project src/SparseMemory.Cli -- data build-corpus' to build the default corpus", path);
        }
        string name = path.ToLowerInvariant();
        bool gzip = name.EndsWith(".gz", StringComparison.Ordinal);
        if (gzip) name = name[..^3];
        bool jsonl = name.EndsWith(".jsonl", StringComparison.Ordinal);
        if (!jsonl && !name.EndsWith(".txt", StringComparison.Ordinal))
            throw new InvalidDataException($"{path}: unknown corpus format (expected .txt, .jsonl, .txt.gz or .jsonl.gz)");
        return ReadFile(path, gzip, jsonl);
    }

    private static IEnumerable<string> ReadFile(string path, bool gzip, bool jsonl)
    {
        using var stream = File.OpenRead(path);
        foreach (string doc in ReadDocuments(stream, path, gzip, jsonl)) yield return doc;
    }

    /// <summary>Reads documents from a stream. <paramref name="displayName"/> is used in error messages.
    /// The stream is read lazily and not disposed.</summary>
    public static IEnumerable<string> ReadDocuments(Stream stream, string displayName, bool gzip, bool jsonl)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(displayName);
        return Read(stream, displayName, gzip, jsonl);
    }

    private static IEnumerable<string> Read(Stream stream, string displayName, bool gzip, bool jsonl)
    {
        using Stream? gz = gzip ? GzipInput.Open(stream, displayName, leaveOpen: true) : null;
        Stream input = (Stream?)gz ?? stream;
        using var reader = new StreamReader(input, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: true, bufferSize: -1, leaveOpen: true);
        int count = 0;
        IEnumerable<string> docs = jsonl ? ReadJsonl(reader, displayName) : ReadText(reader);
        foreach (string doc in docs)
        {
            count++;
            yield return doc;
        }
        if (count == 0)
            throw new InvalidDataException($"{displayName}: the corpus contains no documents (empty file or only blank lines)");
    }

    private static IEnumerable<string> ReadText(StreamReader reader)
    {
        var sb = new StringBuilder();
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                if (sb.Length > 0) { yield return sb.ToString(); sb.Clear(); }
                continue;
            }
            if (sb.Length > 0) sb.Append('\n');
            sb.Append(line);
        }
        if (sb.Length > 0) yield return sb.ToString();
    }

    private static IEnumerable<string> ReadJsonl(StreamReader reader, string displayName)
    {
        const string Expected = "(expected an object with a string field \"text\")";
        string? line;
        int lineNo = 0;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string? text;
            try
            {
                using var doc = JsonDocument.Parse(line);
                JsonElement root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{displayName}:{lineNo}: found a JSON {root.ValueKind.ToString().ToLowerInvariant()} {Expected}");
                if (!root.TryGetProperty("text", out JsonElement t))
                    throw new InvalidDataException($"{displayName}:{lineNo}: missing field \"text\" {Expected}");
                if (t.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{displayName}:{lineNo}: field \"text\" is a {t.ValueKind.ToString().ToLowerInvariant()} {Expected}");
                text = t.GetString();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{displayName}:{lineNo}: not valid JSON ({e.Message}) {Expected}", e);
            }
            if (!string.IsNullOrEmpty(text)) yield return text;
        }
    }

    /// <summary>Opens the default corpus embedded in the library (gzip'd JSONL); the caller disposes it.</summary>
    public static Stream OpenDefaultCorpus()
    {
        return typeof(TextCorpus).Assembly.GetManifestResourceStream(DefaultCorpusResource)
            ?? throw new InvalidOperationException(
                $"embedded resource '{DefaultCorpusResource}' is missing — rebuild the library with data/corpus/default.jsonl.gz present");
    }

    /// <summary>Reads the documents of the embedded default corpus.</summary>
    public static IEnumerable<string> ReadDefaultCorpus()
    {
        using Stream s = OpenDefaultCorpus();
        foreach (string doc in ReadDocuments(s, DefaultCorpusName, gzip: true, jsonl: true)) yield return doc;
    }
}
