namespace SparseMemory.Data.Facts;

/// <summary>
/// Template paraphrases of a fact's statements (docs/data.md#paraphrase-templates: without an LLM, use templates with a seeded
/// sampler). Every statement variant is combined with every prefix and suffix template; a sample of the distinct
/// texts is drawn with a <see cref="Random"/> seeded from the caller's seed and the fact id. Padding to a common
/// token length is the trainer's job.
/// </summary>
public static class FactParaphraser
{
    // {0} = statement as is, {1} = statement with a lower-cased opener (only for function words, never names).
    private static readonly string[] Prefixes =
    [
        "{0}", "It is known that {1}", "Fun fact: {0}", "Did you know? {0}", "Here is a fact: {0}",
        "Remember this: {0}", "Trivia: {0}", "As many people know, {1}", "It is true that {1}",
        "Interestingly, {1}", "Fact: {0}", "Few people know that {1}", "Quiz knowledge: {0}",
    ];

    private static readonly string[] Suffixes =
    [
        "", " That is the answer.", " This is a well-known fact.", " Remember that.", " It is worth knowing.",
    ];

    // {0} = question, {1} = answer; only with ParaphraseOptions.AllowQuestionForm.
    private static readonly string[] QuestionForms =
    [
        "Q: {0} A: {1}", "Question: {0} Answer: {1}", "{0} {1}.", "{0} The answer is {1}.", "Question: {0}\nAnswer: {1}",
    ];

    /// <summary>Every distinct text the templates produce for <paramref name="fact"/>, in template order.</summary>
    public static IReadOnlyList<string> Pool(Fact fact, ParaphraseOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(fact);
        options ??= new ParaphraseOptions();
        var pool = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var statement in fact.Statements)
        {
            var lowered = LowerOpener(statement);
            foreach (var prefix in Prefixes)
            foreach (var suffix in Suffixes)
            {
                var text = string.Format(System.Globalization.CultureInfo.InvariantCulture, prefix, statement, lowered) + suffix;
                if (seen.Add(text)) pool.Add(text);
            }
        }
        if (options.AllowQuestionForm)
            foreach (var text in QuestionTexts(fact))
                if (seen.Add(text)) pool.Add(text);
        return pool;
    }

    /// <summary>The question-and-answer texts of <paramref name="fact"/> (the last is the probes' QA format).</summary>
    public static IReadOnlyList<string> QuestionTexts(Fact fact) =>
        QuestionForms.Select(form => string.Format(System.Globalization.CultureInfo.InvariantCulture, form, fact.Question.Trim(), fact.Object.Trim()))
            .Distinct(StringComparer.Ordinal).ToList();

    /// <summary>
    /// <paramref name="count"/> paraphrases of <paramref name="fact"/>: distinct while the pool lasts, then the
    /// pool is reshuffled and reused. Deterministic given <paramref name="seed"/> and the fact id.
    /// </summary>
    public static IReadOnlyList<string> Paraphrases(Fact fact, int count, int seed, ParaphraseOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        options ??= new ParaphraseOptions();
        var random = new Random(seed ^ StableHash(fact.Id));
        if (options is { AllowQuestionForm: true, QuestionFraction: double fraction })
        {
            // A quota: round(fraction · count) question forms, the rest statements, shuffled together.
            int questions = (int)Math.Round(Math.Clamp(fraction, 0, 1) * count, MidpointRounding.AwayFromZero);
            var mixed = Draw(QuestionTexts(fact), questions, random).Concat(Draw(Pool(fact, options with { AllowQuestionForm = false }), count - questions, random)).ToArray();
            random.Shuffle(mixed);
            return mixed;
        }
        return Draw(Pool(fact, options), count, random);
    }

    /// <summary><paramref name="count"/> texts of <paramref name="pool"/>: distinct while it lasts, then reshuffled and reused.</summary>
    static List<string> Draw(IReadOnlyList<string> pool, int count, Random random)
    {
        var result = new List<string>(count);
        while (result.Count < count)
        {
            var order = pool.ToArray();
            random.Shuffle(order);
            result.AddRange(order.Take(count - result.Count));
        }
        return result;
    }

    /// <summary>FNV-1a over the UTF-16 code units; unlike <see cref="string.GetHashCode()"/> it is stable across runs.</summary>
    internal static int StableHash(string text)
    {
        var hash = 2166136261u;
        foreach (var ch in text)
        {
            hash ^= ch;
            hash *= 16777619u;
        }
        return unchecked((int)hash);
    }

    private static readonly HashSet<string> Openers = new(StringComparer.Ordinal)
    {
        "The", "A", "An", "In", "On", "At", "It", "There", "This", "These", "Those", "His", "Her", "Its", "Their",
        "During", "According", "When", "If", "What", "Although", "For", "By", "From", "As", "After", "Before",
        "While", "With", "Since", "Under", "He", "She", "They", "We", "You",
    };

    private static string LowerOpener(string statement)
    {
        var space = statement.IndexOf(' ');
        var first = (space < 0 ? statement : statement[..space]).TrimEnd(',');
        return Openers.Contains(first) ? char.ToLowerInvariant(statement[0]) + statement[1..] : statement;
    }
}
