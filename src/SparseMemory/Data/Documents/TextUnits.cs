using System.Text.RegularExpressions;

namespace SparseMemory.Data.Documents;

/// <summary>
/// Paragraphs, sentences and words of a document, by rules (docs/documents.md#chunking). Paragraphs are separated by a
/// blank line; inside one, line breaks and runs of white space become one space. A sentence ends at <c>. ! ?</c> (with any
/// closing quotes or brackets) followed by white space and a capital letter, digit, quote or bracket, except after a few
/// abbreviations (<c>Mr.</c>, <c>Dr.</c>, <c>St.</c>, <c>e.g.</c>, a single capital initial).
/// </summary>
public static partial class TextUnits
{
    static readonly HashSet<string> Abbreviations = new(StringComparer.OrdinalIgnoreCase)
    {
        "mr", "mrs", "ms", "dr", "st", "mt", "jr", "sr", "prof", "gen", "col", "lt", "sgt", "capt", "rev", "hon", "vs", "etc", "e.g", "i.e",
        "no", "vol", "fig", "approx", "ca", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "inc", "ltd", "co",
    };

    /// <summary>The paragraphs of <paramref name="text"/>, white space normalised, empty ones dropped.</summary>
    public static IReadOnlyList<string> Paragraphs(string text) =>
        BlankLine().Split(text.Replace("\r\n", "\n").Replace('\r', '\n'))
            .Select(Normalize).Where(p => p.Length > 0).ToList();

    /// <summary>Runs of white space as one space, trimmed.</summary>
    public static string Normalize(string text) => Space().Replace(text, " ").Trim();

    /// <summary>The sentences of one paragraph (already normalised), in order; their concatenation with single spaces is the paragraph.</summary>
    public static IReadOnlyList<string> Sentences(string paragraph)
    {
        var result = new List<string>();
        int start = 0;
        for (int i = 0; i < paragraph.Length; i++)
        {
            char c = paragraph[i];
            if (c is not ('.' or '!' or '?')) continue;
            int end = i + 1;
            while (end < paragraph.Length && paragraph[end] is '"' or '\'' or ')' or ']' or '”' or '’' or '.' or '!' or '?') end++;
            if (end >= paragraph.Length || paragraph[end] != ' ') continue;
            int next = end + 1;
            if (next >= paragraph.Length) continue;
            char n = paragraph[next];
            if (!(char.IsUpper(n) || char.IsDigit(n) || n is '"' or '\'' or '(' or '[' or '“' or '‘')) continue;
            if (c == '.' && IsAbbreviation(paragraph, start, i)) continue;
            result.Add(paragraph[start..end]);
            start = next;
            i = end;
        }
        if (start < paragraph.Length) result.Add(paragraph[start..].Trim());
        return result.Where(s => s.Length > 0).ToList();
    }

    static bool IsAbbreviation(string text, int from, int dot)
    {
        int w = dot;
        while (w > from && !char.IsWhiteSpace(text[w - 1])) w--;
        var word = text[w..dot].TrimStart('(', '"', '\'');
        word = word[(word.LastIndexOfAny(['-', '/']) + 1)..];             // "Minneapolis-St. Paul"
        if (word.Length == 1 && char.IsUpper(word[0]))
        {
            // An initial ("J. R. R. Tolkien") opens a name; after a lower-case word it ends a sentence ("the symbol K. Much …").
            int p = w - 1;
            while (p > from && char.IsWhiteSpace(text[p])) p--;
            int q = p;
            while (q > from && !char.IsWhiteSpace(text[q - 1])) q--;
            return p <= from || !char.IsLower(text[q]);
        }
        if (word.Contains('.') && word.Split('.').All(p => p.Length <= 2)) return true;   // initials: "J.R.R. Tolkien", "P.W. Botha"
        return Abbreviations.Contains(word);
    }

    /// <summary>The words of a text: maximal runs of letters, digits, apostrophes and inner hyphens.</summary>
    public static IReadOnlyList<string> Words(string text) => Word().Matches(text).Select(m => m.Value).ToList();

    /// <summary>Lower-cased <see cref="Words"/> as a set.</summary>
    public static HashSet<string> WordSet(string text) =>
        Words(text).Select(w => w.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);

    /// <summary>Text with its first letter in upper case.</summary>
    public static string UpperFirst(string text) =>
        text.Length == 0 || !char.IsLower(text[0]) ? text : char.ToUpperInvariant(text[0]) + text[1..];

    /// <summary>Joins sentences with single spaces and paragraphs with a blank line.</summary>
    public static string Join(IEnumerable<IEnumerable<string>> paragraphs) =>
        string.Join("\n\n", paragraphs.Select(p => string.Join(' ', p)).Where(p => p.Length > 0));

    [GeneratedRegex(@"\n[ \t]*\n\s*")] private static partial Regex BlankLine();
    [GeneratedRegex(@"\s+")] private static partial Regex Space();
    [GeneratedRegex(@"[\p{L}\p{N}]+(?:['’\-][\p{L}\p{N}]+)*")] private static partial Regex Word();
}
