using System.Globalization;

namespace SparseMemory.Data.Facts;

/// <summary>
/// Self-quiz questions generated from a fact's <i>statements</i> by rules, never copied from the question the fact
/// came with (docs/method.md#protocol). A statement is split around the answer, "L A R.", and asked back in three
/// main shapes: an in-situ question ("L what R?"; "Who or what R?" when the answer opens the statement), a request
/// ("Name what completes: L … R.") and a cloze ("Fill in the blank: L ___ R."). Statements that do not contain the
/// answer give none. Where the statement allows it a wh-fronted question is made too ("A R." → "What R?", "L is A." →
/// "What is L?"). Each question is then written in the question–answer forms of <see cref="FactParaphraser"/>.
/// </summary>
public static class SelfQuiz
{
    /// <summary>A generated question, its answer and the statement it came from (index into <see cref="Fact.Statements"/>).</summary>
    public sealed record Item(string Question, string Answer, int Statement, string Shape);

    /// <summary>Every distinct question the rules make from <paramref name="fact"/>'s statements, in statement order.</summary>
    public static IReadOnlyList<Item> Questions(Fact fact)
    {
        ArgumentNullException.ThrowIfNull(fact);
        var answer = fact.Object.Trim();
        var items = new List<Item>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (answer.Length == 0) return items;
        for (int i = 0; i < fact.Statements.Count; i++)
        {
            var s = fact.Statements[i].Trim();
            var at = s.IndexOf(answer, StringComparison.Ordinal);
            if (at < 0) at = s.IndexOf(answer, StringComparison.OrdinalIgnoreCase);
            if (at < 0) continue;
            var left = s[..at].TrimEnd();
            var right = s[(at + answer.Length)..].TrimEnd().TrimEnd('.', '!', ';').TrimEnd();
            if (left.Length == 0 && right.Length == 0) continue;
            void Add(string shape, string question)
            {
                if (seen.Add(question)) items.Add(new Item(question, answer, i, shape));
            }
            if (left.Length == 0)
                Add("in-situ", $"Who or what {LowerFirst(right.TrimStart())}?");
            else if (right.Length == 0 || right.All(c => !char.IsLetterOrDigit(c)))
                Add("in-situ", $"{left} what?");
            else
                Add("in-situ", $"{left} what{(char.IsLetterOrDigit(right[0]) ? " " : "")}{right}?");
            var fronted = Fronted(left, right);
            if (fronted is not null) Add("wh-fronted", fronted);
            Add("request", $"Name what completes this: {Join(left, "…", right)}.");
            Add("cloze", $"Fill in the blank: {Join(left, "___", right)}.");
        }
        return items;
    }

    /// <summary>
    /// The wh-word moved to the front, as questions are usually asked: "A R" → "What R?"; "L is A" → "What is L?".
    /// Null when the statement has neither shape.
    /// </summary>
    static string? Fronted(string left, string right)
    {
        if (left.Length == 0)
            return right.Length > 0 && char.IsLetter(right.TrimStart()[0]) ? $"What {right.TrimStart()}?" : null;
        if (right.Length > 0 && right.Any(char.IsLetterOrDigit)) return null;
        var space = left.LastIndexOf(' ');
        if (space <= 0) return null;
        var copula = left[(space + 1)..];
        if (!EnglishVerbs.Be.Contains(copula)) return null;
        var subject = left[..space].TrimEnd(',');
        return $"What {copula} {LowerFirst(subject)}?";
    }

    static string Join(string left, string blank, string right)
    {
        var text = left.Length == 0 ? blank : $"{left} {blank}";
        if (right.Length == 0) return text;
        return char.IsLetterOrDigit(right[0]) || right[0] is '(' or '\'' or '"' or '‘' or '“' ? $"{text} {right.TrimStart()}" : text + right;
    }

    static string LowerFirst(string text) =>
        text.Length > 1 && char.IsUpper(text[0]) && char.IsLower(text[1]) && text.Split(' ')[0] is "The" or "A" or "An" or "In" or "On" or "It" or "Its" or "This"
            ? char.ToLower(text[0], CultureInfo.InvariantCulture) + text[1..]
            : text;
}
