using System.Text;

namespace SparseMemory.Data.Facts;

/// <summary>
/// The held-out rule of docs/method.md#protocol: no training line may contain an evaluation question verbatim.
/// Texts are compared after normalising case, whitespace and punctuation (every run of non-letters and non-digits
/// becomes one space), on word boundaries: "Question: What is the capital of Ghana?\nAnswer: Accra" contains
/// "what is the capital of ghana", "Who or what is the capital of Ghana?" does too, "The capital of Ghana is what?"
/// does not.
/// </summary>
public static class QuestionLeak
{
    /// <summary>Lower case, every run of characters that are not letters or digits as one space, padded with a space at each end.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var b = new StringBuilder(text.Length + 2).Append(' ');
        foreach (var ch in text)
        {
            if (char.IsLetterOrDigit(ch)) b.Append(char.ToLowerInvariant(ch));
            else if (b[^1] != ' ') b.Append(' ');
        }
        if (b[^1] != ' ') b.Append(' ');
        return b.ToString();
    }

    /// <summary>Whether <paramref name="line"/> contains <paramref name="question"/> after normalising both.</summary>
    public static bool Contains(string line, string question)
    {
        var q = Normalize(question);
        return q.Trim().Length > 0 && Normalize(line).Contains(q, StringComparison.Ordinal);
    }

    /// <summary>
    /// Every (line, question) pair where a line contains a question. Questions are indexed by their first normalised
    /// words, so a stream of thousands of lines is checked against thousands of questions in linear time.
    /// </summary>
    public static IEnumerable<(string Line, string Question)> Find(IEnumerable<string> lines, IEnumerable<string> questions)
    {
        const int Key = 3;
        var index = new Dictionary<string, List<(string Question, string Norm)>>(StringComparer.Ordinal);
        var keyLengths = new SortedSet<int>();
        foreach (var question in questions.Distinct())
        {
            var norm = Normalize(question);
            var words = norm.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0) continue;
            int k = Math.Min(Key, words.Length);
            keyLengths.Add(k);
            var key = string.Join(' ', words, 0, k);
            if (!index.TryGetValue(key, out var list)) index[key] = list = [];
            list.Add((question, norm));
        }
        foreach (var line in lines)
        {
            var norm = Normalize(line);
            var words = norm.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var reported = new HashSet<string>(StringComparer.Ordinal);
            for (int at = 0; at < words.Length; at++)
                foreach (int k in keyLengths)
                {
                    if (at + k > words.Length) break;
                    if (!index.TryGetValue(string.Join(' ', words, at, k), out var candidates)) continue;
                    foreach (var (question, qnorm) in candidates)
                        if (norm.Contains(qnorm, StringComparison.Ordinal) && reported.Add(question)) yield return (line, question);
                }
        }
    }
}
