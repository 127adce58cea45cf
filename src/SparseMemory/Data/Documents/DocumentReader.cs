using System.Text;
using System.Text.Json;

namespace SparseMemory.Data.Documents;

/// <summary>
/// Reads documents to learn from (docs/documents.md#formats): a JSONL file, one <c>{"text": …, "title"?: …, "id"?: …}</c>
/// per line; a <c>.txt</c> or <c>.md</c> file (one document); or a folder of such files, read in ordinal order of their
/// paths relative to the folder. Every problem is one line naming the file and line: an empty document, a binary file
/// (NUL bytes), text that is not UTF-8, a document over <see cref="MaxDocumentBytes"/>.
/// </summary>
public static class DocumentReader
{
    /// <summary>
    /// The largest document accepted, in UTF-8 bytes (1 MiB, about 250,000 tokens of English prose): the size limit of the
    /// CLI's files and of the service's <c>/learn</c> document (docs/documents.md#limits).
    /// </summary>
    public const int MaxDocumentBytes = 1 << 20;

    /// <summary>The largest file read (a JSONL of many documents): 256 MiB.</summary>
    public const long MaxFileBytes = 256L << 20;

    /// <summary>File extensions read as one plain-text document.</summary>
    public static readonly string[] TextExtensions = [".txt", ".md"];

    /// <summary>File extensions read as JSONL documents.</summary>
    public static readonly string[] JsonlExtensions = [".jsonl"];

    /// <summary>Every document of a file or folder, in order.</summary>
    /// <exception cref="InvalidDataException">A document is empty, binary, not UTF-8 or too large; the message names the file and line.</exception>
    public static IReadOnlyList<Document> Read(string path)
    {
        if (Directory.Exists(path))
        {
            var files = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                .Where(f => IsDocumentFile(f) && !Path.GetRelativePath(path, f).Split(Path.DirectorySeparatorChar).Any(p => p.StartsWith('.')))
                .OrderBy(f => Path.GetRelativePath(path, f), StringComparer.Ordinal).ToList();
            if (files.Count == 0)
                throw new InvalidDataException($"{path}: no document files in the folder; put .txt, .md or .jsonl files in it");
            return files.SelectMany(ReadFile).ToList();
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: documents file not found (give a .jsonl, .txt or .md file or a folder)", path);
        if (!IsDocumentFile(path))
            throw new InvalidDataException($"{path}: unknown document format; use .jsonl ({{\"text\": …}} per line), .txt or .md");
        return ReadFile(path);
    }

    /// <summary>Whether <paramref name="path"/> has an extension this reader takes.</summary>
    public static bool IsDocumentFile(string path) =>
        TextExtensions.Concat(JsonlExtensions).Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    static IReadOnlyList<Document> ReadFile(string path)
    {
        long size = new FileInfo(path).Length;
        if (size > MaxFileBytes)
            throw new InvalidDataException($"{path}:1: the file is {size:N0} bytes, over the limit of {MaxFileBytes:N0} bytes; split it into several files in a folder");
        var bytes = File.ReadAllBytes(path);
        bool jsonl = JsonlExtensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);
        return jsonl ? ReadJsonl(bytes, path) : [ReadText(bytes, path, Path.GetFileName(path))];
    }

    /// <summary>
    /// One plain-text document from raw bytes (a file, or the body of a service request); <paramref name="source"/>
    /// names it in errors, <paramref name="id"/> becomes the document's id.
    /// </summary>
    public static Document ReadText(byte[] bytes, string source, string id)
    {
        var text = Decode(bytes, 0, bytes.Length, source, 1);
        return Check(new Document(id, null, text, $"{source}:1"), source, 1);
    }

    /// <summary>Checks a document given as text (the service's JSON field): empty, NUL characters, size.</summary>
    public static Document FromText(string text, string source, string id)
    {
        ArgumentNullException.ThrowIfNull(text);
        int nul = text.IndexOf('\0');
        if (nul >= 0) throw Binary(source, 1 + text.AsSpan(0, nul).Count('\n'));
        return Check(new Document(id, null, text, $"{source}:1"), source, 1);
    }

    static IReadOnlyList<Document> ReadJsonl(byte[] bytes, string path)
    {
        var docs = new List<Document>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        int start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        int lineNo = 0;
        while (start < bytes.Length)
        {
            int end = Array.IndexOf(bytes, (byte)'\n', start);
            if (end < 0) end = bytes.Length;
            lineNo++;
            var line = Decode(bytes, start, end - start, path, lineNo).TrimEnd('\r');
            start = end + 1;
            if (string.IsNullOrWhiteSpace(line)) continue;
            DocumentLine? d;
            try { d = JsonSerializer.Deserialize<DocumentLine>(line, Json); }
            catch (JsonException e) { throw new InvalidDataException($"{path}:{lineNo}: not a document object ({e.Message}); expected {{\"text\": \"…\", \"title\": \"…\", \"id\": \"…\"}} (title and id optional)"); }
            if (d?.Text is null) throw new InvalidDataException($"{path}:{lineNo}: the object has no \"text\"; expected {{\"text\": \"…\"}}");
            if (d.Text.Contains('\0')) throw Binary(path, lineNo);
            string id = string.IsNullOrWhiteSpace(d.Id) ? $"{Path.GetFileName(path)}:{lineNo}" : d.Id.Trim();
            if (!ids.Add(id)) throw new InvalidDataException($"{path}:{lineNo}: duplicate document id \"{id}\"; ids must be unique within a file");
            docs.Add(Check(new Document(id, string.IsNullOrWhiteSpace(d.Title) ? null : d.Title.Trim(), d.Text, $"{path}:{lineNo}"), path, lineNo));
        }
        if (docs.Count == 0) throw new InvalidDataException($"{path}:1: empty: no documents; put one {{\"text\": \"…\"}} object per line");
        return docs;
    }

    static Document Check(Document d, string source, int line)
    {
        if (string.IsNullOrWhiteSpace(d.Text))
            throw new InvalidDataException($"{source}:{line}: empty document; give it some text (or remove it)");
        int size = Encoding.UTF8.GetByteCount(d.Text);
        if (size > MaxDocumentBytes)
            throw new InvalidDataException($"{source}:{line}: the document is {size:N0} bytes, over the limit of {MaxDocumentBytes:N0} bytes (DocumentReader.MaxDocumentBytes); split it into several documents");
        return d;
    }

    /// <summary>Strict UTF-8 decoding of bytes[offset..offset+count); NUL bytes and invalid sequences are errors naming their line.</summary>
    static string Decode(byte[] bytes, int offset, int count, string source, int firstLine)
    {
        int nul = Array.IndexOf(bytes, (byte)0, offset, count);
        if (nul >= 0) throw Binary(source, firstLine + bytes.AsSpan(offset, nul - offset).Count((byte)'\n'));
        if (offset == 0 && count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) { offset = 3; count -= 3; }
        var span = bytes.AsSpan(offset, count);
        var chars = new char[count];
        var status = System.Text.Unicode.Utf8.ToUtf16(span, chars, out int read, out int written, replaceInvalidSequences: false);
        if (status != System.Buffers.OperationStatus.Done)
        {
            int line = firstLine + span[..read].Count((byte)'\n');
            throw new InvalidDataException($"{source}:{line}: not UTF-8 text (invalid byte 0x{span[Math.Min(read, span.Length - 1)]:X2} at byte {offset + read}); save the file as UTF-8");
        }
        return new string(chars, 0, written);
    }

    static InvalidDataException Binary(string source, int line) =>
        new($"{source}:{line}: binary data (a NUL byte), not a text document; give a .txt, .md or .jsonl text file");

    static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = false };

    sealed record DocumentLine
    {
        [System.Text.Json.Serialization.JsonPropertyName("text")] public string? Text { get; init; }
        [System.Text.Json.Serialization.JsonPropertyName("title")] public string? Title { get; init; }
        [System.Text.Json.Serialization.JsonPropertyName("id")] public string? Id { get; init; }
    }
}
