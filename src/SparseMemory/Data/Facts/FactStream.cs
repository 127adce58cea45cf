using SparseMemory.Data.Benchmarks;

namespace SparseMemory.Data.Facts;

/// <summary>
/// The TriviaQA fact stream of paper §4: facts made from <c>triviaqa_sm_sub.jsonl</c>, split into the stream to
/// learn (one fact per step) and a same-distribution held-out remainder (docs/data.md#triviaqa-stream).
/// </summary>
public sealed class FactStream
{
    private FactStream(IReadOnlyList<Fact> facts, IReadOnlyList<Fact> heldOut,
        IReadOnlyDictionary<string, StatementRule> rules, ParaphraseOptions options)
    {
        Facts = facts;
        HeldOut = heldOut;
        Rules = rules;
        Options = options;
    }

    /// <summary>The facts to learn, in stream order.</summary>
    public IReadOnlyList<Fact> Facts { get; }

    /// <summary>The remaining facts, in file order, for held-out TriviaQA-style QA.</summary>
    public IReadOnlyList<Fact> HeldOut { get; }

    /// <summary>The statement rule that fired for each fact id (stream and held-out).</summary>
    public IReadOnlyDictionary<string, StatementRule> Rules { get; }

    /// <summary>Paraphrase options applied by <see cref="Paraphrases"/>.</summary>
    public ParaphraseOptions Options { get; }

    /// <summary>How often each rule fired over <see cref="Facts"/>; the counts sum to the stream length.</summary>
    public IReadOnlyDictionary<StatementRule, int> StreamRuleCounts()
    {
        var counts = Enum.GetValues<StatementRule>().ToDictionary(r => r, _ => 0);
        foreach (var fact in Facts) counts[Rules[fact.Id]]++;
        return counts;
    }

    /// <summary><paramref name="count"/> paraphrases of <paramref name="fact"/> under <see cref="Options"/>.</summary>
    public IReadOnlyList<string> Paraphrases(Fact fact, int count, int seed) =>
        FactParaphraser.Paraphrases(fact, count, seed, Options);

    /// <summary>
    /// Reads <paramref name="path"/> and splits it: the first <paramref name="streamCount"/> items when
    /// <paramref name="seed"/> is null, else a seeded random selection (in shuffled order).
    /// </summary>
    /// <exception cref="InvalidDataException">The file is malformed.</exception>
    public static FactStream Load(string path, int streamCount, int? seed = null, ParaphraseOptions? options = null) =>
        FromItems(TriviaQa.Read(path), streamCount, seed, options, Path.GetFileName(path));

    /// <summary>As <see cref="Load"/>, from items already read.</summary>
    public static FactStream FromItems(IReadOnlyList<TriviaQaItem> items, int streamCount, int? seed = null,
        ParaphraseOptions? options = null, string sourceName = "triviaqa")
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentOutOfRangeException.ThrowIfNegative(streamCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(streamCount, items.Count);
        var rules = new Dictionary<string, StatementRule>(StringComparer.Ordinal);
        var facts = new Fact[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            var (fact, rule) = ToFact(items[i], $"{sourceName}:{i + 1}", $"tqa-{i + 1:D4}");
            facts[i] = fact;
            rules[fact.Id] = rule;
        }
        var order = Enumerable.Range(0, items.Count).ToArray();
        if (seed is { } s) new Random(s).Shuffle(order);
        var stream = order.Take(streamCount).Select(i => facts[i]).ToArray();
        var heldOut = order.Skip(streamCount).Order().Select(i => facts[i]).ToArray();
        return new FactStream(stream, heldOut, rules, options ?? new ParaphraseOptions());
    }

    /// <summary>Turns one TriviaQA item into a fact; also returns the statement rule that fired.</summary>
    public static (Fact Fact, StatementRule Rule) ToFact(TriviaQaItem item, string source, string id)
    {
        ArgumentNullException.ThrowIfNull(item);
        var statement = TriviaQaStatements.Make(item.Question, item.Answer);
        var question = TriviaQaStatements.CleanQuestion(item.Question);
        var answer = TriviaQaStatements.DisplayAnswer(item.Answer);
        var aliases = new[] { item.Answer }.Concat(item.Aliases).Distinct(StringComparer.Ordinal).ToArray();
        var fact = new Fact(id, question, Fact.TriviaQaRelation, answer, aliases, question,
            [statement.Text, .. statement.Alternatives], source);
        return (fact, statement.Rule);
    }
}
