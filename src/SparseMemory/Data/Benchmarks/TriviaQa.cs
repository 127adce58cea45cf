namespace SparseMemory.Data.Benchmarks;

/// <summary>
/// Reader for <c>llmf/triviaqa_sm_sub.jsonl</c>:
/// <c>{"context": "Question: …\nAnswer:", "answer", "aliases": [...]}</c>.
/// </summary>
public static class TriviaQa
{
    /// <summary>The prefix every context starts with.</summary>
    public const string QuestionPrefix = "Question: ";

    /// <summary>The suffix every context ends with.</summary>
    public const string AnswerSuffix = "\nAnswer:";

    /// <summary>Reads up to <paramref name="limit"/> items, extracting the question text from the context.</summary>
    /// <exception cref="InvalidDataException">A line is malformed or its context is not "Question: …\nAnswer:".</exception>
    public static IReadOnlyList<TriviaQaItem> Read(string path, int limit = int.MaxValue) =>
        BenchmarkLines.ReadJsonl(path, limit, json =>
        {
            var context = json.String("context");
            if (!context.StartsWith(QuestionPrefix, StringComparison.Ordinal)
                || !context.EndsWith(AnswerSuffix, StringComparison.Ordinal)
                || context.Length < QuestionPrefix.Length + AnswerSuffix.Length)
                throw json.Error(@"expected context of the form 'Question: …\nAnswer:'");
            var question = context[QuestionPrefix.Length..^AnswerSuffix.Length].Trim();
            if (question.Length == 0) throw json.Error("expected a non-empty question in 'context'");
            var answer = json.String("answer");
            if (string.IsNullOrWhiteSpace(answer)) throw json.Error("expected a non-empty 'answer'");
            return new TriviaQaItem(question, answer, json.Strings("aliases"), context);
        });
}
