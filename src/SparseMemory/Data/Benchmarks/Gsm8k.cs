using System.Text.RegularExpressions;

namespace SparseMemory.Data.Benchmarks;

/// <summary>Reader for <c>gsm8k_test.jsonl</c>: <c>{"question", "answer"}</c>, the answer ending in <c>#### n</c>.</summary>
public static partial class Gsm8k
{
    /// <summary>The marker before the final answer.</summary>
    public const string FinalAnswerMarker = "####";

    /// <summary>
    /// Reads up to <paramref name="limit"/> items; each exposes the final answer (text after <c>####</c>) and
    /// the solution before the marker with the <c>&lt;&lt;…&gt;&gt;</c> calculator annotations stripped.
    /// </summary>
    /// <exception cref="InvalidDataException">A line is malformed or its answer lacks exactly one <c>####</c>.</exception>
    public static IReadOnlyList<Gsm8kItem> Read(string path, int limit = int.MaxValue) =>
        BenchmarkLines.ReadJsonl(path, limit, json =>
        {
            var question = json.String("question");
            var answer = json.String("answer");
            var marker = answer.IndexOf(FinalAnswerMarker, StringComparison.Ordinal);
            if (marker < 0 || answer.IndexOf(FinalAnswerMarker, marker + 1, StringComparison.Ordinal) >= 0)
                throw json.Error("expected exactly one '#### <number>' in 'answer'");
            var final = answer[(marker + FinalAnswerMarker.Length)..].Trim();
            if (final.Length == 0) throw json.Error("expected a final answer after '####'");
            var solution = StripCalculatorAnnotations(answer[..marker]).Trim();
            return new Gsm8kItem(question, answer, final, solution);
        });

    /// <summary>Removes every <c>&lt;&lt;…&gt;&gt;</c> calculator annotation, e.g. "= &lt;&lt;16-3-4=9&gt;&gt;9" → "= 9".</summary>
    public static string StripCalculatorAnnotations(string text) => Annotation().Replace(text, "");

    [GeneratedRegex("<<[^<>]*>>")]
    private static partial Regex Annotation();
}
