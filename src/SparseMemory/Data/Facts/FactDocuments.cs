namespace SparseMemory.Data.Facts;

/// <summary>
/// Renders known facts as pretraining documents (docs/data.md#known-facts-in-pretraining). Each fact contributes
/// <c>repeats</c> lines: about half are its QA example in <see cref="QaFormat"/> (at least one, so the model learns the
/// probe format for every known fact) and the rest are its statements, cycling from a seeded offset so the phrasings
/// vary. All lines are shuffled with a seeded <see cref="Random"/> and packed 4–8 per document. Mixing both forms is
/// what lets statement-only finetuning on new facts transfer to QA (docs/data.md#statement-to-qa-transfer).
/// </summary>
public static class FactDocuments
{
    /// <summary>Fewest lines per document.</summary>
    public const int MinLines = 4;

    /// <summary>Most lines per document.</summary>
    public const int MaxLines = 8;

    /// <summary>QA lines among <paramref name="repeats"/> lines of one fact: ⌈repeats / 2⌉ (at least one).</summary>
    public static int QaLines(int repeats) => Math.Max(1, (repeats + 1) / 2);

    /// <summary>The documents for <paramref name="facts"/>; the same arguments give the same list.</summary>
    /// <param name="facts">The known facts.</param>
    /// <param name="repeats">Lines per fact.</param>
    /// <param name="seed">Seeds the phrasings, the shuffle and the packing.</param>
    /// <param name="qaFraction">
    /// Share of the facts that also get question–answer lines (<see cref="TransferSplit"/>); the others get
    /// <paramref name="repeats"/> statement lines and no question (1 = every fact, the original layout).
    /// </param>
    /// <param name="augment">
    /// Knowledge augmentation: statement lines are drawn from the fact's paraphrase pool (every statement template
    /// inside every prefix/suffix wrapper of <see cref="FactParaphraser"/>), distinct while the pool lasts, instead of
    /// cycling through the statements alone.
    /// </param>
    public static IReadOnlyList<string> Build(IReadOnlyList<Fact> facts, int repeats, int seed, double qaFraction = 1, bool augment = false)
    {
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        var rng = new Random(seed);
        var lines = new List<string>(facts.Count * repeats);
        foreach (var fact in facts)
        {
            int qa = TransferSplit.HasQa(fact.Id, qaFraction) ? QaLines(repeats) : 0;
            for (int k = 0; k < qa; k++) lines.Add(QaFormat.Example(fact.Question, fact.Object).TrimEnd('\n'));
            int offset = rng.Next(fact.Statements.Count);
            if (augment)
                lines.AddRange(FactParaphraser.Paraphrases(fact, repeats - qa, seed ^ 0x4a09));
            else
                for (int k = 0; k < repeats - qa; k++) lines.Add(fact.Statements[(offset + k) % fact.Statements.Count]);
        }
        var shuffled = lines.ToArray();
        rng.Shuffle(shuffled);
        var docs = new List<string>(shuffled.Length / MinLines + 1);
        for (int at = 0; at < shuffled.Length;)
        {
            int n = Math.Min(rng.Next(MinLines, MaxLines + 1), shuffled.Length - at);
            docs.Add(string.Join('\n', shuffled, at, n));
            at += n;
        }
        return docs;
    }
}
