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
    public static IReadOnlyList<string> Pool(Fact fact, ParaphraseOptions? options = null) =>
        LinePool(fact, options).Select(l => l.Text).ToArray();

    /// <summary>
    /// Every distinct line for <paramref name="fact"/>: each statement in every wrapper, then (with
    /// <see cref="ParaphraseOptions.AllowQuestionForm"/>) the question lines. Unless the questions are
    /// <see cref="QuestionSource.Verbatim"/>, a line that contains the fact's evaluation question is left out.
    /// </summary>
    public static IReadOnlyList<TrainingLine> LinePool(Fact fact, ParaphraseOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(fact);
        options ??= new ParaphraseOptions();
        var pool = StatementLines(fact, options).ToList();
        if (options.AllowQuestionForm)
        {
            var seen = pool.Select(l => l.Text).ToHashSet(StringComparer.Ordinal);
            pool.AddRange(QuestionLines(fact, options).Where(l => seen.Add(l.Text)));
        }
        return pool;
    }

    /// <summary>Each statement inside every prefix and suffix wrapper, distinct, without lines that leak the evaluation question.</summary>
    public static IReadOnlyList<TrainingLine> StatementLines(Fact fact, ParaphraseOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(fact);
        options ??= new ParaphraseOptions();
        var pool = new List<TrainingLine>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < fact.Statements.Count; i++)
        {
            var statement = fact.Statements[i];
            if (options.Questions != QuestionSource.Verbatim && QuestionLeak.Contains(statement, fact.Question)) continue;
            var lowered = LowerOpener(statement);
            foreach (var prefix in Prefixes)
            foreach (var suffix in Suffixes)
            {
                var text = string.Format(System.Globalization.CultureInfo.InvariantCulture, prefix, statement, lowered) + suffix;
                if (seen.Add(text))
                    pool.Add(new TrainingLine(text, LineKind.Statement, $"statement {i + 1}{Wrapper(prefix, suffix)}"));
            }
        }
        return pool;
    }

    static string Wrapper(string prefix, string suffix) =>
        prefix == "{0}" && suffix.Length == 0 ? "" : $" in \"{prefix.Replace("{0}", "…").Replace("{1}", "…")}{suffix}\"";

    /// <summary>The question lines of <paramref name="fact"/> under <see cref="ParaphraseOptions.Questions"/>.</summary>
    public static IReadOnlyList<TrainingLine> QuestionLines(Fact fact, ParaphraseOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(fact);
        options ??= new ParaphraseOptions();
        var lines = new List<TrainingLine>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (options.Questions == QuestionSource.Verbatim)
        {
            foreach (var form in QuestionForms)
            {
                var text = Format(form, fact.Question.Trim(), fact.Object.Trim());
                if (seen.Add(text)) lines.Add(new TrainingLine(text, LineKind.Question, $"VERBATIM evaluation question (upper bound) in \"{FormName(form)}\""));
            }
            return lines;
        }
        foreach (var item in SelfQuiz.Questions(fact))
        foreach (var form in QuestionForms)
        {
            var text = Format(form, item.Question, item.Answer);
            if (QuestionLeak.Contains(text, fact.Question)) continue;
            if (seen.Add(text))
                lines.Add(new TrainingLine(text, LineKind.Question, $"self-quiz ({item.Shape}) from statement {item.Statement + 1} in \"{FormName(form)}\""));
        }
        return lines;
    }

    static string Format(string form, string question, string answer) =>
        string.Format(System.Globalization.CultureInfo.InvariantCulture, form, question, answer);

    static string FormName(string form) => form.Replace("{0}", "…").Replace("{1}", "…").Replace("\n", "\\n");

    /// <summary>The verbatim question-and-answer texts of <paramref name="fact"/> (the last is the probes' QA format).</summary>
    public static IReadOnlyList<string> QuestionTexts(Fact fact) =>
        QuestionLines(fact, new ParaphraseOptions(true, null, QuestionSource.Verbatim)).Select(l => l.Text).ToList();

    /// <summary>
    /// <paramref name="count"/> paraphrases of <paramref name="fact"/>: distinct while the pool lasts, then the
    /// pool is reshuffled and reused. Deterministic given <paramref name="seed"/> and the fact id.
    /// </summary>
    public static IReadOnlyList<string> Paraphrases(Fact fact, int count, int seed, ParaphraseOptions? options = null) =>
        Lines(fact, count, seed, options).Select(l => l.Text).ToArray();

    /// <summary>As <see cref="Paraphrases"/>, with what each line is and where it came from.</summary>
    /// <exception cref="InvalidDataException">Every statement of the fact contains its evaluation question.</exception>
    public static IReadOnlyList<TrainingLine> Lines(Fact fact, int count, int seed, ParaphraseOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        options ??= new ParaphraseOptions();
        var random = new Random(seed ^ StableHash(fact.Id));
        var statements = StatementLines(fact, options);
        if (statements.Count == 0)
            throw new InvalidDataException($"fact {fact.Id} ({fact.Source}): every statement contains its evaluation question \"{fact.Question}\"; give it a statement that does not (docs/method.md#protocol)");
        if (options is { AllowQuestionForm: true, QuestionFraction: double fraction })
        {
            // A quota: round(fraction · count) question lines, the rest statements, shuffled together.
            var questionPool = QuestionLines(fact, options);
            int questions = questionPool.Count == 0 ? 0 : (int)Math.Round(Math.Clamp(fraction, 0, 1) * count, MidpointRounding.AwayFromZero);
            var mixed = Draw(questionPool, questions, random).Concat(Draw(statements, count - questions, random)).ToArray();
            random.Shuffle(mixed);
            return mixed;
        }
        return Draw(LinePool(fact, options), count, random);
    }

    /// <summary><paramref name="count"/> texts of <paramref name="pool"/>: distinct while it lasts, then reshuffled and reused.</summary>
    static List<T> Draw<T>(IReadOnlyList<T> pool, int count, Random random)
    {
        var result = new List<T>(count);
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
