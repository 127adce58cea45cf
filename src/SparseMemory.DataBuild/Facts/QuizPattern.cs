using SparseMemory.Data;
using SparseMemory.Data.Facts;
namespace SparseMemory.DataBuild.Facts;

/// <summary>
/// Expands one field of a bsdgames quiz file: <c>a|b</c> are alternatives, <c>{x}</c> is optional,
/// <c>[a|b]</c> groups alternatives, and <c>\c</c> is a literal character. The first expansion is the canonical
/// answer: optional parts included, first alternatives chosen ("Cal{if{ornia}}|CA" → "California", "Cal", "Calif", "CA").
/// </summary>
public static class QuizPattern
{
    /// <summary>Most expansions returned per field.</summary>
    public const int MaxExpansions = 64;

    /// <summary>Every distinct whitespace-normalised, non-empty expansion, canonical first.</summary>
    /// <exception cref="FormatException">Unbalanced brackets or braces.</exception>
    public static IReadOnlyList<string> Expand(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        int pos = 0;
        var result = Alternatives(pattern, ref pos, closing: '\0');
        if (pos < pattern.Length) throw new FormatException($"unexpected '{pattern[pos]}' at position {pos + 1} in \"{pattern}\"");
        return result.Select(FactText.Normalize).Where(s => s.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Splits a field at its top-level '|' (outside braces and brackets): "actors|soldiers" → both.</summary>
    public static IReadOnlyList<string> SplitAlternatives(string pattern)
    {
        var parts = new List<string>();
        int depth = 0, start = 0;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\') { i++; continue; }
            if (c is '{' or '[') depth++;
            else if (c is '}' or ']') depth--;
            else if (c == '|' && depth == 0) { parts.Add(pattern[start..i]); start = i + 1; }
        }
        parts.Add(pattern[start..]);
        return parts;
    }

    /// <summary>The first expansion of at most <paramref name="maxWords"/> words (else the canonical one), or null if none.</summary>
    public static string? Preferred(IReadOnlyList<string> expansions, int maxWords = 3) =>
        expansions.FirstOrDefault(e => FactText.WordCount(e) <= maxWords) ?? expansions.FirstOrDefault();

    private static List<string> Alternatives(string p, ref int pos, char closing)
    {
        var all = new List<string>();
        while (true)
        {
            all.AddRange(Sequence(p, ref pos));
            if (pos < p.Length && p[pos] == '|') { pos++; continue; }
            break;
        }
        if (closing != '\0')
        {
            if (pos >= p.Length || p[pos] != closing) throw new FormatException($"missing '{closing}' in \"{p}\"");
            pos++;
        }
        return all;
    }

    private static List<string> Sequence(string p, ref int pos)
    {
        var current = new List<string> { "" };
        while (pos < p.Length && p[pos] is not ('|' or '}' or ']'))
        {
            char c = p[pos++];
            List<string> part;
            if (c == '{') { part = Alternatives(p, ref pos, '}'); part.Add(""); }
            else if (c == '[') part = Alternatives(p, ref pos, ']');
            else if (c == '\\' && pos < p.Length) part = [p[pos++].ToString()];
            else part = [c.ToString()];
            var next = new List<string>();
            foreach (var head in current)
                foreach (var tail in part)
                    if (next.Count < MaxExpansions) next.Add(head + tail);
            current = next;
        }
        return current;
    }
}
