namespace SparseMemory.Data.Benchmarks;

/// <summary>Reader for the <c>{"query", "choices": [...], "gold"}</c> files: ARC-Easy (4 choices) and PIQA (2).</summary>
public static class MultipleChoice
{
    /// <summary>Reads up to <paramref name="limit"/> items, each with exactly <paramref name="choiceCount"/> choices.</summary>
    /// <exception cref="InvalidDataException">A line is malformed, has another number of choices, or a gold index out of range.</exception>
    public static IReadOnlyList<MultipleChoiceItem> Read(string path, int choiceCount, int limit = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(choiceCount, 2);
        return BenchmarkLines.ReadJsonl(path, limit, json =>
        {
            var choices = json.Strings("choices");
            if (choices.Count != choiceCount)
                throw json.Error($"expected {choiceCount} choices, found {choices.Count}");
            var gold = json.Int("gold");
            if (gold < 0 || gold >= choiceCount)
                throw json.Error($"gold index {gold} is not 0–{choiceCount - 1}");
            return new MultipleChoiceItem(json.String("query"), choices, gold);
        });
    }

    /// <summary>Reads ARC-Easy (four choices).</summary>
    public static IReadOnlyList<MultipleChoiceItem> ReadArcEasy(string path, int limit = int.MaxValue) => Read(path, 4, limit);

    /// <summary>Reads PIQA (two choices).</summary>
    public static IReadOnlyList<MultipleChoiceItem> ReadPiqa(string path, int limit = int.MaxValue) => Read(path, 2, limit);
}
