namespace SparseMemory.Data.Benchmarks;

/// <summary>
/// Reader for <c>hellaswag_val_full.txt.gz</c>: gzip text, six lines per item
/// (<c>label: context</c>, gold index 0–3, four endings).
/// </summary>
public static class HellaSwag
{
    /// <summary>Lines per item in the published file.</summary>
    public const int LinesPerItem = 6;

    /// <summary>Reads up to <paramref name="limit"/> items.</summary>
    /// <exception cref="InvalidDataException">A line does not have the expected shape, or the file ends mid-item.</exception>
    public static IReadOnlyList<HellaSwagItem> Read(string path, int limit = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        var name = path;
        var items = new List<HellaSwagItem>();
        var block = new string[LinesPerItem];
        var filled = 0;
        var lastLine = 0;
        if (limit == 0) return items;
        foreach (var (line, text) in BenchmarkLines.Read(path))
        {
            lastLine = line;
            block[filled++] = text;
            if (filled < LinesPerItem) continue;
            items.Add(Parse(name, line - LinesPerItem + 1, block));
            filled = 0;
            if (items.Count >= limit) return items;
        }
        if (filled != 0)
            throw BenchmarkLines.Error(name, lastLine,
                $"expected {LinesPerItem} lines per item, file ends after {filled} line(s) of the last item");
        return items;
    }

    private static HellaSwagItem Parse(string name, int first, string[] block)
    {
        var split = block[0].IndexOf(": ", StringComparison.Ordinal);
        if (split <= 0) throw BenchmarkLines.Error(name, first, "expected 'activity label: context'");
        var gold = block[1].Trim();
        if (gold.Length != 1 || gold[0] < '0' || gold[0] > '3')
            throw BenchmarkLines.Error(name, first + 1, $"gold index '{block[1]}' is not 0–3");
        for (var i = 2; i < LinesPerItem; i++)
        {
            if (string.IsNullOrWhiteSpace(block[i]))
                throw BenchmarkLines.Error(name, first + i, $"expected ending {i - 2}, found an empty line");
        }
        return new HellaSwagItem(block[0][..split], block[0][(split + 2)..], gold[0] - '0', block[2..].ToArray());
    }
}
