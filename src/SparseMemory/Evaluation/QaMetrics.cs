using System.Text;
using System.Text.RegularExpressions;

namespace SparseMemory.Evaluation;

/// <summary>
/// Answer normalisation, exact match and token F1 as in the official SQuAD v1.1 <c>evaluate-v1.1.py</c>:
/// lower-case, drop ASCII punctuation (Python's <c>string.punctuation</c>), replace the articles
/// a/an/the by spaces, collapse whitespace. Scores against several gold answers take the maximum.
/// </summary>
/// <remarks>
/// Like the reference script, F1 counts overlap as a multiset intersection of tokens, and an empty
/// prediction scores F1 0 even against an empty gold answer (while its exact match is 1).
/// </remarks>
public static partial class QaMetrics
{
    private const string AsciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    /// <summary>The SQuAD normalisation of <paramref name="text"/>.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lower = text.ToLowerInvariant();
        var builder = new StringBuilder(lower.Length);
        foreach (var ch in lower)
        {
            if (!AsciiPunctuation.Contains(ch)) builder.Append(ch);
        }
        var noArticles = Articles().Replace(builder.ToString(), " ");
        return string.Join(' ', noArticles.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>The whitespace tokens of the normalised text.</summary>
    public static string[] Tokens(string text) =>
        Normalize(text).Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>1 when the normalised strings are equal, else 0.</summary>
    public static double ExactMatch(string prediction, string groundTruth) =>
        Normalize(prediction) == Normalize(groundTruth) ? 1.0 : 0.0;

    /// <summary>Token F1 between prediction and one gold answer (multiset overlap).</summary>
    public static double F1(string prediction, string groundTruth)
    {
        var predicted = Tokens(prediction);
        var gold = Tokens(groundTruth);
        var goldCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in gold) goldCounts[token] = goldCounts.GetValueOrDefault(token) + 1;
        var same = 0;
        foreach (var token in predicted)
        {
            if (goldCounts.GetValueOrDefault(token) <= 0) continue;
            goldCounts[token]--;
            same++;
        }
        if (same == 0) return 0.0;
        var precision = (double)same / predicted.Length;
        var recall = (double)same / gold.Length;
        return 2 * precision * recall / (precision + recall);
    }

    /// <summary>Maximum exact match over all gold answers (aliases).</summary>
    /// <exception cref="ArgumentException">No gold answers were given.</exception>
    public static double ExactMatch(string prediction, IEnumerable<string> groundTruths) =>
        Max(groundTruths, g => ExactMatch(prediction, g));

    /// <summary>Maximum token F1 over all gold answers (aliases).</summary>
    /// <exception cref="ArgumentException">No gold answers were given.</exception>
    public static double F1(string prediction, IEnumerable<string> groundTruths) =>
        Max(groundTruths, g => F1(prediction, g));

    private static double Max(IEnumerable<string> groundTruths, Func<string, double> score)
    {
        ArgumentNullException.ThrowIfNull(groundTruths);
        var best = double.NegativeInfinity;
        foreach (var truth in groundTruths) best = Math.Max(best, score(truth));
        if (double.IsNegativeInfinity(best)) throw new ArgumentException("at least one gold answer is required", nameof(groundTruths));
        return best;
    }

    // Python's re \b is Unicode-aware, as is .NET's; the articles are matched after lower-casing.
    [GeneratedRegex(@"\b(a|an|the)\b", RegexOptions.CultureInvariant)]
    private static partial Regex Articles();
}
