namespace SparseMemory.Data.Benchmarks;

/// <summary>Reader for <c>llmf/lambada_openai.jsonl</c>: <c>{"context", "continuation"}</c>.</summary>
public static class Lambada
{
    /// <summary>Reads up to <paramref name="limit"/> items.</summary>
    /// <exception cref="InvalidDataException">A line is malformed or has an empty continuation.</exception>
    public static IReadOnlyList<LambadaItem> Read(string path, int limit = int.MaxValue) =>
        BenchmarkLines.ReadJsonl(path, limit, json =>
        {
            var item = new LambadaItem(json.String("context"), json.String("continuation"));
            if (string.IsNullOrWhiteSpace(item.Continuation)) throw json.Error("expected a non-empty 'continuation'");
            return item;
        });
}
