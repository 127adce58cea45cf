using System.IO.Compression;
using System.Text.Json;

namespace SparseMemory.Data.Benchmarks;

/// <summary>
/// Shared plumbing for the benchmark readers: numbered lines from plain or gzip files, JSON line parsing,
/// and typed field access that fails with <c>file:line: what was expected</c>.
/// </summary>
internal static class BenchmarkLines
{
    /// <summary>Enumerates (1-based line number, text) pairs; <c>.gz</c> files are decompressed on the fly.</summary>
    public static IEnumerable<(int Line, string Text)> Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? GzipInput.Open(file, path, leaveOpen: false)
            : file;
        using var reader = new StreamReader(stream);
        var number = 0;
        while (reader.ReadLine() is { } text)
        {
            number++;
            yield return (number, text);
        }
    }

    /// <summary>
    /// Parses every non-blank line of a JSONL file with <paramref name="parse"/>, stopping after
    /// <paramref name="limit"/> items.
    /// </summary>
    public static IReadOnlyList<T> ReadJsonl<T>(string path, int limit, Func<JsonLine, T> parse)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        var items = new List<T>();
        if (limit == 0) return items;
        var name = path;                                   // errors name the whole path, as every other reader does
        foreach (var (line, text) in Read(path))
        {
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(text);
            }
            catch (JsonException e)
            {
                throw Error(name, line, $"expected one JSON object per line ({e.Message})");
            }
            using (document)
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                    throw Error(name, line, $"expected a JSON object, found {document.RootElement.ValueKind}");
                items.Add(parse(new JsonLine(name, line, document.RootElement)));
            }
            if (items.Count >= limit) break;
        }
        return items;
    }

    /// <summary>Builds the exception every reader throws: <c>path:line: message</c>.</summary>
    public static InvalidDataException Error(string fileName, int line, string message) =>
        new($"{fileName}:{line}: {message}");
}

/// <summary>One parsed JSON line plus its location, with typed accessors that report the location on failure.</summary>
internal readonly record struct JsonLine(string FileName, int Line, JsonElement Root)
{
    /// <summary>A failure at this line.</summary>
    public InvalidDataException Error(string message) => BenchmarkLines.Error(FileName, Line, message);

    /// <summary>The required string property <paramref name="name"/>.</summary>
    public string String(string name)
    {
        if (!Root.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.String)
            throw Error($"expected string property '{name}'{Found(name)}");
        return value.GetString()!;
    }

    /// <summary>The required integer property <paramref name="name"/>.</summary>
    public int Int(string name)
    {
        if (!Root.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Number
            || !value.TryGetInt32(out var result))
            throw Error($"expected integer property '{name}'{Found(name)}");
        return result;
    }

    /// <summary>The required array-of-strings property <paramref name="name"/>.</summary>
    public IReadOnlyList<string> Strings(string name, int minCount = 0)
    {
        if (!Root.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Array)
            throw Error($"expected string array property '{name}'{Found(name)}");
        var list = new List<string>(value.GetArrayLength());
        foreach (var element in value.EnumerateArray())
        {
            if (element.ValueKind != JsonValueKind.String)
                throw Error($"expected only strings in '{name}', found {element.ValueKind}");
            list.Add(element.GetString()!);
        }
        if (list.Count < minCount)
            throw Error($"expected at least {minCount} entries in '{name}', found {list.Count}");
        return list;
    }

    private string Found(string name) =>
        Root.TryGetProperty(name, out var value) ? $", found {value.ValueKind}" : ", property is missing";
}
