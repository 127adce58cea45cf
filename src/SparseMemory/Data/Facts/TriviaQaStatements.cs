using System.Text;
using System.Text.RegularExpressions;

namespace SparseMemory.Data.Facts;

/// <summary>
/// Turns a TriviaQA question and its answer into a declarative statement by rules (paper §4: each question is
/// rewritten as a statement). The rules work on whitespace tokens with a small verb lexicon; when none applies the
/// neutral <c>"&lt;question&gt; — &lt;answer&gt;."</c> is used, and <see cref="TriviaQaStatement.Rule"/> says which fired.
/// </summary>
public static partial class TriviaQaStatements
{
    private static readonly HashSet<string> WhWords = new(StringComparer.Ordinal)
        { "which", "what", "who", "whom", "whose", "where", "when", "how" };

    private static readonly HashSet<string> Prepositions = new(StringComparer.Ordinal)
    {
        "in", "on", "at", "to", "for", "from", "by", "with", "of", "during", "under", "into", "after", "before",
        "since", "through", "about", "as", "over", "near", "between", "behind", "against", "within", "upon",
    };

    private static readonly HashSet<string> LeadStarters = new(StringComparer.Ordinal)
    {
        "in", "on", "at", "during", "according", "for", "from", "since", "after", "before", "when", "if",
        "although", "while", "as", "by", "with", "under", "apart", "excluding", "including", "until", "though",
    };

    private static readonly HashSet<string> CompletionEnds = new(StringComparer.Ordinal)
        { "is", "are", "was", "were", "as", "the", "a", "an", "called", "named", "known", "termed", "by", "of" };

    private static readonly HashSet<string> Conjunctions = new(StringComparer.Ordinal) { "but", "and", "so", "then" };

    private static readonly HashSet<string> SentenceOpeners = new(StringComparer.Ordinal)
    {
        "the", "a", "an", "in", "on", "at", "it", "there", "this", "these", "those", "his", "her", "its", "their",
        "during", "according", "when", "if", "what", "although", "for", "by", "from", "as", "after", "before", "one",
        "while", "with", "since", "alphabetically", "apart", "under", "he", "she", "they", "we", "you",
    };

    /// <summary>
    /// Makes the statement for <paramref name="question"/> answered by <paramref name="answer"/>.
    /// Both are cleaned first (<see cref="CleanQuestion"/>, <see cref="DisplayAnswer"/>).
    /// </summary>
    public static TriviaQaStatement Make(string question, string answer)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(answer);
        var q = CleanQuestion(question);
        var a = DisplayAnswer(answer);
        var sentences = SplitSentences(q);
        var coreIndex = sentences.FindLastIndex(s => s.Contains('?'));
        if (coreIndex < 0) coreIndex = sentences.Count - 1;
        var clause = Contraction().Replace(sentences[coreIndex].TrimEnd('?', '.', '!', ' '), "$1 is");
        var result = Transform(clause.Split(' ', StringSplitOptions.RemoveEmptyEntries), a, sentences[coreIndex].Contains('?'));
        if (result is null) return new TriviaQaStatement(Fallback(q, a), StatementRule.Fallback, []);

        string Assemble(string core)
        {
            var parts = new List<string>(sentences);
            parts[coreIndex] = EndSentence(Capitalize(core));
            return string.Join(' ', parts);
        }

        var alternatives = result.Value.Alternatives.Select(Assemble).Distinct().ToList();
        var text = Assemble(result.Value.Text);
        alternatives.Remove(text);
        return new TriviaQaStatement(text, result.Value.Rule, alternatives);
    }

    /// <summary>
    /// Undoes the CSV-style quoting of some questions (<c>"What is a ""sou-wester""?"</c>), collapses whitespace
    /// and removes a space before the final question mark.
    /// </summary>
    public static string CleanQuestion(string question)
    {
        var q = question.Trim();
        if (q.Length > 1 && q[0] == '"' && q[^1] == '"')
            q = q[1..^1].Replace("\"\"", "\"", StringComparison.Ordinal);
        q = Whitespace().Replace(q, " ").Trim();
        return q.Replace(" ?", "?", StringComparison.Ordinal);
    }

    /// <summary>
    /// The answer as written in a statement: trimmed, and title-cased when it is written entirely in capitals
    /// (more than three letters, so "DIEPPE" becomes "Dieppe" but "USA" stays).
    /// </summary>
    public static string DisplayAnswer(string answer)
    {
        var a = Whitespace().Replace(answer.Trim(), " ").Replace("\"\"\"", "\"", StringComparison.Ordinal);
        if (a.Length > 2 && a[^1] == '.' && char.IsLower(a[^2])) a = a[..^1];
        var letters = a.Count(char.IsLetter);
        if (letters <= 3 || a.Any(char.IsLower)) return a;
        var builder = new StringBuilder(a.Length);
        var startOfWord = true;
        foreach (var ch in a)
        {
            builder.Append(startOfWord ? ch : char.ToLowerInvariant(ch));
            startOfWord = !char.IsLetter(ch) && ch != '\'' && ch != '’';
        }
        return builder.ToString();
    }

    /// <summary>
    /// The neutral statement used when no rule applies: the question's topic, then the answer — the first wh-word (with
    /// an auxiliary right after it) is dropped, so the line never contains the question itself (docs/method.md#protocol):
    /// "How is the year 1994 depicted in Roman Numerals?" → "The year 1994 depicted in Roman Numerals: MCMXCIV." Without
    /// a wh-word the question's first word is dropped instead.
    /// </summary>
    public static string Fallback(string question, string answer)
    {
        var words = question.TrimEnd('?', ' ').Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        var wh = words.FindIndex(w => WhWords.Contains(Norm(w)) || Norm(w) == "why");
        if (wh < 0) wh = 0;
        int drop = wh + 1 < words.Count && (EnglishVerbs.IsAuxiliary(Norm(words[wh + 1])) || EnglishVerbs.Do.Contains(Norm(words[wh + 1]))) ? 2 : 1;
        if (words.Count > drop) words.RemoveRange(wh, drop);
        var topic = string.Join(' ', words).TrimEnd(',', ':', ';');
        return EndSentence($"{Capitalize(topic)}: {answer}");
    }

    /// <summary>Counts how often each rule fired; the counts sum to the number of statements.</summary>
    public static IReadOnlyDictionary<StatementRule, int> RuleCounts(IEnumerable<TriviaQaStatement> statements)
    {
        var counts = Enum.GetValues<StatementRule>().ToDictionary(r => r, _ => 0);
        foreach (var statement in statements) counts[statement.Rule]++;
        return counts;
    }

    private readonly record struct Result(string Text, StatementRule Rule, IReadOnlyList<string> Alternatives);

    private static Result? Transform(string[] words, string answer, bool isQuestion)
    {
        if (words.Length == 0) return null;
        if (Norm(words[0]) == "name" && words.Length > 2 && Norm(words[1]) == "the")
            return new Result($"The {Join(words[2..])} is {answer}", StatementRule.NameImperative, []);

        var whIndices = Enumerable.Range(0, words.Length)
            .Where(i => WhWords.Contains(Norm(words[i])) && !IsQuoted(words[i])).ToList();
        if (whIndices.Count == 0)
        {
            // "The particle physics unit of … is?" — the answer completes the sentence.
            return words.Length >= 3 && isQuestion && CompletionEnds.Contains(Norm(words[^1]))
                ? new Result($"{Join(words)} {answer}", StatementRule.Completion, [Capitalize($"{Join(words[1..])} {answer}")])
                : null;
        }
        var frontedFailed = false;
        for (var w = 0; w < whIndices.Count; w++)
        {
            var i = whIndices[w];
            var before = words[..i];
            string? preposition = null;
            if (before.Length > 0 && Prepositions.Contains(Norm(before[^1])) && !before[^1].EndsWith(','))
            {
                preposition = before[^1];
                before = before[..^1];
            }
            var lead = IsLead(before);
            // "Cayenne, after which the condiment is named, is a city in which country": a relative clause.
            if (IsRelative(before, preposition, words, i) && w + 1 < whIndices.Count) continue;
            if (before.Length > 0 && !lead)
            {
                // A later wh-word after a failed fronted one is inside a relative clause ("Which author who lived …").
                if (frontedFailed) return null;
                var inSitu = InSitu(words, i, answer);
                if (inSitu is not null) return inSitu;
                continue;
            }
            var fronted = Fronted(preposition, words[i..], answer)
                ?? (before.Length > 0 || preposition is not null ? InSitu(words, i, answer) : null);
            if (fronted is null)
            {
                frontedFailed = true;
                continue;
            }
            if (before.Length == 0 || fronted.Value.Rule == StatementRule.InSitu) return fronted;
            var leadText = Join(before);
            var body = LowerOpener(fronted.Value.Text);
            var joined = leadText.EndsWith(',') || Conjunctions.Contains(Norm(before[^1]))
                ? $"{leadText} {body}"
                : $"{leadText}, {body}";
            var alternatives = new List<string>();
            if (LeadStarters.Contains(Norm(before[0])) && !Conjunctions.Contains(Norm(before[^1])))
                alternatives.Add($"{fronted.Value.Text.TrimEnd('.')} {LowerOpener(leadText.TrimEnd(','))}");
            return new Result(joined, fronted.Value.Rule, alternatives);
        }
        return null;
    }

    private static bool IsRelative(string[] before, string? preposition, string[] words, int i)
    {
        if (before.Length == 0 || !before[^1].EndsWith(',')) return false;
        var wh = Norm(words[i]);
        if (wh is "what" or "how") return false;
        return preposition is not null || wh is "who" or "whom"
            || (i + 1 < words.Length && IsVerbish(Norm(words[i + 1]), 1));
    }

    private static bool IsLead(string[] before)
    {
        if (before.Length == 0) return false;
        if (before[^1].EndsWith(',') || Conjunctions.Contains(Norm(before[^1]))) return true;
        if (LeadStarters.Contains(Norm(before[0])) && before.Length <= 4) return true;
        return before.Length == 1 && Norm(before[0]).EndsWith("ly", StringComparison.Ordinal);
    }

    /// <summary>A question with the wh-word first (after an optional pied-piped preposition).</summary>
    private static Result? Fronted(string? preposition, string[] ws, string answer)
    {
        var wh = Norm(ws[0]);
        var rest = ws[1..];
        if (rest.Length == 0) return null;
        var next = Norm(rest[0]);
        switch (wh)
        {
            case "who" or "whom" when preposition is null:
                if (EnglishVerbs.Do.Contains(next))
                {
                    var clause = DoClause(next, rest[1..]);
                    return clause is null ? null : new Result($"{clause} {answer}", StatementRule.ObjectCleft, []);
                }
                if (EnglishVerbs.Be.Contains(next) && EndsWithPreposition(rest))
                    return new Result($"{AuxClause(rest[0], rest[1..])} {answer}", StatementRule.StrandedPreposition, []);
                if (wh == "whom") return null;
                return new Result(answer + ws[0][3..] + " " + Join(rest), StatementRule.WhoSubject,
                    ws[0].Length == 3 ? [AnswerLast([], rest, answer)] : []);
            case "whose" when preposition is null:
                return new Result($"{answer}'s {Join(rest)}", StatementRule.WhoSubject, []);
            case "where" or "when" when preposition is null:
                return Located(rest, answer, "in", StatementRule.WhereWhen);
            case "how" when preposition is null && (next == "many" || next == "much"):
                return HowMany(rest[1..], answer);
            case "how" when preposition is null && EnglishVerbs.Be.Contains(next) && rest.Length > 2
                                                && Norm(rest[^1]) is "known" or "called" or "named":
                return new Result($"{AuxClause(rest[0], rest[1..])} as {answer}", StatementRule.HowKnown, []);
            case "which" or "what":
                return WhichWhat(preposition, wh, rest, answer);
            default:
                return null;
        }
    }

    private static Result? WhichWhat(string? preposition, string wh, string[] rest, string answer)
    {
        var j = 0;
        while (j < rest.Length && !IsVerbishAt(rest, j, allowFirst: true)) j++;
        if (j >= rest.Length || j > 12) return null;
        var phrase = rest[..j];
        var verb = Norm(rest[j]);
        var tail = rest[(j + 1)..];
        if (preposition is not null)
        {
            if (EnglishVerbs.Do.Contains(verb))
            {
                var clause = DoClause(verb, tail);
                return clause is null ? null : new Result($"{clause} {preposition.ToLowerInvariant()} {answer}", StatementRule.PrepositionFronted, []);
            }
            if (!EnglishVerbs.IsAuxiliary(verb) || tail.Length == 0) return null;
            var reordered = EnglishVerbs.Modals.Contains(verb) ? ModalClause(rest[j], tail) : AuxClause(rest[j], tail);
            return reordered is null ? null : new Result($"{reordered} {preposition.ToLowerInvariant()} {answer}", StatementRule.PrepositionFronted, []);
        }
        if (EnglishVerbs.Do.Contains(verb))
        {
            var clause = DoClause(verb, tail);
            if (clause is null) return null;
            var copula = verb == "did" ? "was" : "is";
            var subject = phrase.Length == 0 ? "What" : $"The {Join(phrase)} that";
            return new Result($"{subject} {LowerOpener(clause)} {copula} {answer}", StatementRule.ObjectCleft, []);
        }
        if (EnglishVerbs.Be.Contains(verb))
        {
            if (tail.Length == 0) return null;
            if (EndsWithPreposition(tail))
                return new Result($"{AuxClause(rest[j], tail)} {answer}", StatementRule.StrandedPreposition, []);
            var possessive = Array.FindIndex(phrase, p => p.EndsWith("'s", StringComparison.Ordinal) || p.EndsWith("’s", StringComparison.Ordinal));
            if (possessive >= 0)
                return new Result($"{answer}'s {Join(phrase[(possessive + 1)..])} {rest[j]} {Join(tail)}".Replace("  ", " ", StringComparison.Ordinal), StatementRule.CopulaAnswerFirst, []);
            var answerFirst = $"{answer} {rest[j]} {Join(tail)}";
            if (StartsNounPhrase(tail[0]))
                return new Result($"{Capitalize(Join(tail))} {rest[j]} {answer}", StatementRule.CopulaAnswerLast, [answerFirst]);
            return new Result(answerFirst, StatementRule.CopulaAnswerFirst, [AnswerLast(phrase, rest[j..], answer)]);
        }
        if (EnglishVerbs.Modals.Contains(verb) && tail.Length > 0 && StartsNounPhrase(tail[0])) return null;
        return new Result($"{answer} {Join(rest[j..])}", StatementRule.WhSubjectVerb, [AnswerLast(phrase, rest[j..], answer)]);
    }

    /// <summary>
    /// The answer after its cue, for the rules that put it first (docs/method.md#protocol): "Which club won X?" with
    /// answer A gives "The club that won X was A" (a cleft with "that", never "who", so the line never contains the
    /// question itself). <paramref name="predicate"/> starts with the verb.
    /// </summary>
    private static string AnswerLast(string[] phrase, string[] predicate, string answer)
    {
        var head = phrase.Length == 0 ? "The one"
            : Norm(phrase[0]) is "of" or "one" ? $"The one {Join(phrase)}"
            : $"The {Join(phrase)}";
        var verb = Norm(predicate[0]);
        var copula = EnglishVerbs.Be.Contains(verb) ? verb
            : verb is "has" or "does" or "do" or "have" || (verb.EndsWith('s') && !verb.EndsWith("ss", StringComparison.Ordinal)) ? "is"
            : "was";
        return $"{head} that {Join(predicate)} {copula} {answer}";
    }

    private static Result? Located(string[] rest, string answer, string preposition, StatementRule rule)
    {
        var aux = Norm(rest[0]);
        var tail = rest[1..];
        if (tail.Length == 0) return null;
        string? clause = EnglishVerbs.Do.Contains(aux) ? DoClause(aux, tail)
            : EnglishVerbs.Be.Contains(aux) || EnglishVerbs.Have.Contains(aux) ? AuxClause(rest[0], tail)
            : EnglishVerbs.Modals.Contains(aux) ? ModalClause(rest[0], tail)
            : null;
        if (clause is null) return null;
        return EndsWithPreposition(tail)
            ? new Result($"{clause} {answer}", rule, [])
            : new Result($"{clause} {preposition} {answer}", rule, []);
    }

    private static Result? HowMany(string[] rest, string answer)
    {
        var j = 0;
        while (j < rest.Length && !IsVerbish(Norm(rest[j]), j) && !(j > 0 && EnglishVerbs.IsBase(Norm(rest[j])))) j++;
        if (j >= rest.Length) return null;
        var phrase = Join(rest[..j]);
        var verb = Norm(rest[j]);
        var tail = rest[(j + 1)..];
        if (EnglishVerbs.Do.Contains(verb))
        {
            var clause = DoClause(verb, tail, insertAfterVerb: $"{answer} {phrase}".TrimEnd());
            return clause is null ? null : new Result(clause, StatementRule.HowMany, []);
        }
        if (EnglishVerbs.Be.Contains(verb) && tail.Length > 0 && Norm(tail[0]) == "there")
            return new Result($"There {rest[j]} {answer} {phrase} {Join(tail[1..])}".TrimEnd(), StatementRule.HowMany, []);
        if (EnglishVerbs.Modals.Contains(verb) && tail.Length > 0 && StartsNounPhrase(tail[0]))
        {
            var clause = ModalClause(rest[j], tail, insertAfterVerb: $"{answer} {phrase}".TrimEnd());
            return clause is null ? null : new Result(clause, StatementRule.HowMany, []);
        }
        return new Result($"{answer} {phrase} {Join(rest[j..])}", StatementRule.HowMany, []);
    }

    /// <summary>The wh-phrase replaced in place: "X is part of which country" → "X is part of &lt;A&gt;".</summary>
    private static Result? InSitu(string[] words, int i, string answer)
    {
        var wh = Norm(words[i]);
        if (i == 0 || wh is "when" or "where") return null;
        var end = i;
        if (wh == "how")
        {
            if (i + 1 >= words.Length || Norm(words[i + 1]) is not ("many" or "much")) return null;
            end = i + 1;
            if (words[end].EndsWith(',') || end + 1 == words.Length)
                return new Result(Join(words[..i].Append(answer + words[end][4..]).Concat(words[(end + 1)..]).ToArray()), StatementRule.InSitu, []);
            return new Result(Join(words[..i].Append(answer).Concat(words[(end + 1)..]).ToArray()), StatementRule.InSitu, []);
        }
        var trailing = "";
        if (wh is "which" or "what")
        {
            while (end + 1 < words.Length && end - i < 6 && !words[end].EndsWith(',')
                   && !IsVerbish(Norm(words[end + 1]), end + 1 - i)) end++;
        }
        var last = words[end];
        var cut = last.Length;
        while (cut > 0 && !char.IsLetterOrDigit(last[cut - 1])) cut--;
        trailing = last[cut..];
        var leading = words[i][..(words[i].Length - words[i].TrimStart('‘', '\'', '"', '“').Length)];
        var replaced = words[..i].Append(leading + answer + trailing).Concat(words[(end + 1)..]);
        return new Result(Join(replaced.ToArray()), StatementRule.InSitu, []);
    }

    /// <summary>"did S V rest" → "S V-past rest" (and "does" → third person, "do" → base).</summary>
    private static string? DoClause(string aux, string[] tail, string? insertAfterVerb = null)
    {
        var v = FindVerb(tail, EnglishVerbs.IsBase);
        if (v < 1) v = VerbAfterName(tail);
        if (v < 1) return null;
        var baseForm = Norm(tail[v]);
        var inflected = aux switch
        {
            "did" => EnglishVerbs.Past(baseForm),
            "does" => EnglishVerbs.ThirdPerson(baseForm),
            _ => baseForm,
        };
        var parts = tail[..v].Append(inflected);
        if (insertAfterVerb is not null) parts = parts.Append(insertAfterVerb);
        return Capitalize(Join(parts.Concat(tail[(v + 1)..]).ToArray()));
    }

    /// <summary>"was S PART rest" → "S was PART rest"; without a participle "S was".</summary>
    private static string AuxClause(string aux, string[] tail)
    {
        var p = FindVerb(tail, EnglishVerbs.IsParticiple);
        if (p < 1) return Capitalize($"{Join(tail)} {aux.ToLowerInvariant()}");
        while (p > 1 && EnglishVerbs.Adverbs.Contains(Norm(tail[p - 1]))) p--;
        return Capitalize($"{Join(tail[..p])} {aux.ToLowerInvariant()} {Join(tail[p..])}");
    }

    /// <summary>"would S V rest" → "S would V rest".</summary>
    private static string? ModalClause(string modal, string[] tail, string? insertAfterVerb = null)
    {
        var v = FindVerb(tail, EnglishVerbs.IsBase);
        if (v < 1) return null;
        var verb = insertAfterVerb is null ? tail[v] : $"{tail[v]} {insertAfterVerb}";
        return Capitalize($"{Join(tail[..v])} {modal.ToLowerInvariant()} {verb} {Join(tail[(v + 1)..])}".TrimEnd());
    }

    /// <summary>"Igor Stravinsky accuse …": the first lower-case word after a capitalised subject; -1 if none.</summary>
    private static int VerbAfterName(string[] tail)
    {
        for (var k = 1; k < tail.Length; k++)
        {
            if (char.IsUpper(tail[k][0])) continue;
            var word = Norm(tail[k]);
            var isFunctionWord = Prepositions.Contains(word) || EnglishVerbs.Determiners.Contains(word) || word is "and" or "&";
            if (isFunctionWord) continue;
            return !tail[k - 1].EndsWith(',') && word.All(char.IsLetter) ? k : -1;
        }
        return -1;
    }

    /// <summary>Index of the first word from 1 on that matches and does not follow a determiner; -1 if none.</summary>
    private static int FindVerb(string[] tail, Func<string, bool> isVerb)
    {
        for (var k = 1; k < tail.Length; k++)
        {
            if (EnglishVerbs.Determiners.Contains(Norm(tail[k - 1]))) continue;
            if (char.IsUpper(tail[k][0])) continue;
            if (isVerb(Norm(tail[k]))) return k;
        }
        return -1;
    }

    private static bool IsVerbish(string word, int position) =>
        EnglishVerbs.IsAuxiliary(word) || (position > 0 && EnglishVerbs.IsFinite(word));

    /// <summary>Like <see cref="IsVerbish"/>, and also an unknown "-s" word before a determiner ("What name links an …").</summary>
    private static bool IsVerbishAt(string[] words, int j, bool allowFirst)
    {
        var word = Norm(words[j]);
        if (IsVerbish(word, allowFirst && EnglishVerbs.IsFinite(word) ? 1 : j)) return true;
        if (j > 0 && j + 1 < words.Length && EnglishVerbs.IsBase(word) && Norm(words[j + 1]) is "the" or "a" or "an") return true;
        return j > 0 && j + 1 < words.Length && word.Length > 3 && word.EndsWith('s') && !word.EndsWith("ss", StringComparison.Ordinal)
            && !words[j].EndsWith(',') && char.IsLower(words[j][0])
            && EnglishVerbs.Determiners.Contains(Norm(words[j + 1])) && Norm(words[j + 1]) != "of";
    }

    private static bool EndsWithPreposition(string[] words) => Prepositions.Contains(Norm(words[^1]));

    private static bool StartsNounPhrase(string word)
    {
        var n = Norm(word);
        return EnglishVerbs.Determiners.Contains(n) && n != "of"
            || n is "you" or "we" or "they" or "he" or "she" or "it" or "one"
            || char.IsUpper(word.TrimStart('‘', '\'', '"', '“')[0]) || char.IsDigit(word[0]);
    }

    private static bool IsQuoted(string word) => word.Length > 0 && word[0] is '‘' or '\'' or '"' or '“';

    /// <summary>Lower-cased word without surrounding punctuation.</summary>
    private static string Norm(string word) =>
        word.Trim(',', '.', ';', ':', '?', '!', '"', '\'', '‘', '’', '“', '”', '(', ')').ToLowerInvariant();

    private static string Join(string[] words) => string.Join(' ', words);

    private static string Capitalize(string text) =>
        text.Length == 0 || !char.IsLower(text[0]) ? text : char.ToUpperInvariant(text[0]) + text[1..];

    /// <summary>Lower-cases the first word only when it is a function word ("The", "In"), never a name.</summary>
    private static string LowerOpener(string text)
    {
        var space = text.IndexOf(' ');
        var first = space < 0 ? text : text[..space];
        return SentenceOpeners.Contains(Norm(first)) && first != "I"
            ? char.ToLowerInvariant(text[0]) + text[1..]
            : text;
    }

    private static string EndSentence(string text)
    {
        text = text.TrimEnd();
        return text.EndsWith('.') || text.EndsWith('!') || text.EndsWith('?') ? text : text + ".";
    }

    /// <summary>Splits at sentence ends that are followed by a capital, ignoring initials and abbreviations.</summary>
    private static List<string> SplitSentences(string text)
    {
        var sentences = new List<string>();
        var start = 0;
        foreach (Match m in SentenceEnd().Matches(text))
        {
            var chunk = text[start..(m.Index + m.Length)].Trim();
            var lastWord = chunk[(chunk.LastIndexOf(' ') + 1)..];
            if (chunk.Split(' ').Length < 3 || Abbreviation().IsMatch(lastWord)) continue;
            sentences.Add(chunk);
            start = m.Index + m.Length;
        }
        if (start < text.Length) sentences.Add(text[start..].Trim());
        return sentences;
    }

    [GeneratedRegex(@"\b(What|Who|what|who)['’]s\b")]
    private static partial Regex Contraction();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"[.?!][""'’”]?(?=\s+[""'‘“]?[A-Z])")]
    private static partial Regex SentenceEnd();

    [GeneratedRegex(@"^(([A-Za-z]\.)+|Mr\.|Mrs\.|Ms\.|Dr\.|St\.|Jr\.|Sr\.|Mt\.|No\.|vs\.|Co\.|Ltd\.|Inc\.)$")]
    private static partial Regex Abbreviation();
}
