namespace SparseMemory.Data.Benchmarks;

/// <summary>Reader for <c>nq_open_dev.jsonl</c>: <c>{"question", "answer": [aliases]}</c>.</summary>
public static class NqOpen
{
    /// <summary>Reads up to <paramref name="limit"/> items.</summary>
    /// <exception cref="InvalidDataException">A line is not a JSON object with a question and at least one answer.</exception>
    public static IReadOnlyList<NqOpenItem> Read(string path, int limit = int.MaxValue) =>
        BenchmarkLines.ReadJsonl(path, limit, json => new NqOpenItem(json.String("question"), json.Strings("answer", minCount: 1)));
}
