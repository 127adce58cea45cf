using System.Text.RegularExpressions;
using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents;

/// <summary>
/// What the augmentation rules need to know about a sentence, found by rules (no parser): its subject (the words before
/// its first verb) and the spans a question could ask for — numbers, runs of capitalised words, and the complement of
/// a final copula ("… is jollof rice."). docs/documents.md#strategies.
/// </summary>
public static partial class SentenceParts
{
    /// <summary>Sentence openers that are not names ("The", "In", "However", …).</summary>
    public static readonly HashSet<string> FunctionWords = new(StringComparer.OrdinalIgnoreCase)
    {
        "the", "a", "an", "in", "on", "at", "it", "there", "this", "these", "those", "that", "his", "her", "its", "their", "he", "she",
        "they", "we", "you", "i", "during", "according", "when", "if", "what", "although", "for", "by", "from", "as", "after", "before",
        "while", "with", "since", "under", "however", "but", "and", "so", "then", "also", "thus", "therefore", "meanwhile", "later",
        "many", "most", "some", "each", "every", "one", "both", "few", "much", "several", "to", "of", "or", "not", "no", "all", "our",
    };

    /// <summary>Words allowed inside a capitalised name ("Bay of Biscay", "Leonardo da Vinci").</summary>
    static readonly HashSet<string> NameJoiners = new(StringComparer.Ordinal) { "of", "de", "da", "del", "di", "du", "von", "van", "la", "le", "y", "and" };

    static readonly HashSet<string> Prepositions = new(StringComparer.Ordinal)
        { "in", "on", "at", "from", "of", "by", "to", "near", "under", "with", "for", "into", "over", "about", "after", "before", "not" };

    /// <summary>The sentence without its final punctuation.</summary>
    public static string Body(string sentence) => sentence.Trim().TrimEnd('.', '!', '?', ';', ':').TrimEnd();

    /// <summary>The final punctuation of the sentence ("." when it has none).</summary>
    public static string End(string sentence)
    {
        var t = sentence.TrimEnd();
        return t.Length > 0 && t[^1] is '.' or '!' or '?' ? t[^1].ToString() : ".";
    }

    /// <summary>
    /// The subject and the rest: the words before the first auxiliary or finite verb, when there are 1–8 of them and the
    /// sentence does not open with a function word other than an article. Null otherwise.
    /// </summary>
    public static (string Subject, string Predicate)? Subject(string sentence)
    {
        var words = Body(sentence).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length < 2) return null;
        if (FunctionWords.Contains(words[0]) && words[0] is not ("The" or "A" or "An")) return null;
        for (int i = 1; i < words.Length && i <= 8; i++)
        {
            var w = words[i].Trim(',');
            if (words[i - 1].EndsWith(',')) return null;                      // an apposition or a fronted phrase: not a plain subject
            if (EnglishVerbs.IsAuxiliary(w) || (EnglishVerbs.IsFinite(w) && !EnglishVerbs.Determiners.Contains(words[i - 1].ToLowerInvariant())))
                return (string.Join(' ', words, 0, i), string.Join(' ', words, i, words.Length - i));
        }
        return null;
    }

    /// <summary>
    /// Spans a question could ask for, each once, in order of appearance: numbers, runs of capitalised words and the
    /// complement after the last copula when it ends the sentence in at most four words. Never the whole sentence. A
    /// capitalised word that opens the sentence alone ("Records about …") counts only when it is in <paramref name="names"/>
    /// (<see cref="Names"/> of the chunk: words also capitalised inside a sentence) or a verb follows it ("Asia is …"),
    /// since an opener is capitalised anyway.
    /// </summary>
    public static IReadOnlyList<string> Spans(string sentence, IReadOnlySet<string>? names = null)
    {
        var body = Body(sentence);
        var spans = new List<(int At, string Text)>();
        foreach (Match m in Number().Matches(body)) spans.Add((m.Index, m.Value));
        var words = WordToken().Matches(body).ToList();
        for (int i = 0; i < words.Count; i++)
        {
            if (!IsCapitalised(words[i].Value) || (i == 0 && FunctionWords.Contains(words[i].Value))) continue;
            int j = i;
            while (j + 1 < words.Count && Adjacent(body, words[j], words[j + 1])
                   && (IsCapitalised(words[j + 1].Value)
                       || (NameJoiners.Contains(words[j + 1].Value) && j + 2 < words.Count && Adjacent(body, words[j + 1], words[j + 2]) && IsCapitalised(words[j + 2].Value))))
                j += IsCapitalised(words[j + 1].Value) ? 1 : 2;
            if (i == 0 && j == 0 && names is not null && !names.Contains(words[0].Value)
                && !(words.Count > 1 && (EnglishVerbs.IsAuxiliary(words[1].Value) || EnglishVerbs.IsFinite(words[1].Value)))) continue;
            int start = words[i].Index, end = words[j].Index + words[j].Length;
            spans.Add((start, body[start..end].TrimEnd('\'', '’').Replace("'s", "").Replace("’s", "")));
            i = j;
        }
        var copula = Copula().Matches(body).LastOrDefault();
        if (copula is not null)
        {
            var rest = body[(copula.Index + copula.Length)..].Trim();
            int n = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            // "… are kept in archives" is a passive verb and "… is in Africa" a place phrase, not a complement.
            var head = rest.Split(' ')[0];
            if (n is > 0 and <= 4 && !rest.Contains(',') && !EnglishVerbs.IsParticiple(head) && !Prepositions.Contains(head)) spans.Add((copula.Index + copula.Length, StripArticle(rest)));
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        return spans.OrderBy(s => s.At).Select(s => s.Text.Trim())
            .Where(s => s.Length > 0 && s.Length < body.Length && seen.Add(s)).ToList();
    }

    /// <summary>
    /// Every (sentence index, answer span) pair of a chunk's sentences, in order: the spans of each sentence
    /// (<see cref="Spans"/>) with the names of the whole chunk as candidates — the items cloze and self-quiz lines ask about.
    /// </summary>
    public static IEnumerable<(int Sentence, string Span)> SpansOf(IReadOnlyList<string> sentences)
    {
        var names = Names(sentences);
        for (int i = 0; i < sentences.Count; i++)
            foreach (var span in Spans(sentences[i], names))
                yield return (i, span);
    }

    /// <summary>Capitalised words that occur somewhere other than at the start of a sentence: names, not openers.</summary>
    public static IReadOnlySet<string> Names(IEnumerable<string> sentences)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sentence in sentences)
            foreach (var w in WordToken().Matches(Body(sentence)).Skip(1))
                if (IsCapitalised(w.Value)) names.Add(w.Value);
        return names;
    }

    /// <summary>"the X" / "a X" / "an X" → "X".</summary>
    public static string StripArticle(string text)
    {
        foreach (var a in new[] { "the ", "a ", "an " })
            if (text.StartsWith(a, StringComparison.OrdinalIgnoreCase) && text.Length > a.Length) return text[a.Length..];
        return text;
    }

    /// <summary>Lower-cases the first letter when the first word is a function word (never a name).</summary>
    public static string LowerOpener(string text)
    {
        var space = text.IndexOf(' ');
        var first = (space < 0 ? text : text[..space]).TrimEnd(',');
        return FunctionWords.Contains(first) && first != "I" ? char.ToLowerInvariant(text[0]) + text[1..] : text;
    }

    static bool IsCapitalised(string word) => word.Length > 0 && char.IsUpper(word[0]);

    static bool Adjacent(string body, Match a, Match b) => body.AsSpan(a.Index + a.Length, b.Index - a.Index - a.Length).Trim().Length == 0;

    [GeneratedRegex(@"(?<![\p{L}\p{N}])\d[\d,.]*\d(?![\p{L}\p{N}])|(?<![\p{L}\p{N}.,])\d(?![\p{L}\p{N}])")] private static partial Regex Number();
    [GeneratedRegex(@"[\p{L}][\p{L}\p{N}'’\-/.]*")] private static partial Regex WordToken();
    [GeneratedRegex(@"\b(is|was|are|were)\s")] private static partial Regex Copula();
}
