namespace SparseMemory.Finetuning;

/// <summary>
/// A control: a uniform random subset of min(t, #read) read slots. The draw depends only on the seed, the step
/// and the counts, so runs (and resumed runs) reproduce it.
/// </summary>
/// <remarks>
/// <see cref="Select"/> uses <see cref="NextStep"/> and then increments it; a trainer that resumes sets
/// <see cref="NextStep"/> first, or calls <see cref="SelectAtStep"/>. The generator is a private SplitMix64, so the
/// draw does not depend on the runtime's <see cref="System.Random"/> implementation. Ids come in draw order; the
/// scores are tf = c(i)/Σc, for information only.
/// </remarks>
/// <param name="seed">Run seed.</param>
/// <param name="firstStep">The step of the first <see cref="Select"/> call.</param>
public sealed class RandomRanker(long seed, long firstStep = 0) : ISlotRanker
{
    /// <summary>Registry entry (see <see cref="SlotRankers"/>).</summary>
    public static readonly RankerSpec Spec = new("random", "a seeded uniform random subset of the read slots (a control)", false, s => new RandomRanker(s.Seed));

    /// <summary>The run seed.</summary>
    public long Seed { get; } = seed;

    /// <summary>The step the next <see cref="Select"/> call draws for.</summary>
    public long NextStep { get; set; } = firstStep;

    /// <inheritdoc />
    public string Name => Spec.Name;

    /// <inheritdoc />
    public SlotSelection Select(long[] counts, BackgroundStats? background, int topT)
    {
        var selection = SelectAtStep(counts, topT, NextStep);
        NextStep++;
        return selection;
    }

    /// <summary>The selection for a given step, without touching <see cref="NextStep"/>.</summary>
    /// <param name="counts">c(i) of the batch, length S.</param>
    /// <param name="topT">t, positive.</param>
    /// <param name="step">The optimizer step.</param>
    public SlotSelection SelectAtStep(long[] counts, int topT, long step)
    {
        ArgumentNullException.ThrowIfNull(counts);
        RankingCore.CheckTopT(topT, Name);
        var (ids, total) = RankingCore.Candidates(counts);
        int n = ids.Length;
        int take = Math.Min(topT, n);
        ulong state = unchecked((ulong)Seed * 0x9E3779B97F4A7C15UL ^ (ulong)step * 0xD1B54A32D192ED03UL);

        // Partial Fisher-Yates: the first `take` positions become a uniform random subset in draw order.
        for (int i = 0; i < take; i++)
        {
            int j = i + (int)NextBelow(ref state, (ulong)(n - i));
            (ids[i], ids[j]) = (ids[j], ids[i]);
        }

        var selIds = new long[take];
        var scores = new double[take];
        for (int i = 0; i < take; i++)
        {
            selIds[i] = ids[i];
            scores[i] = (double)counts[ids[i]] / total;
        }

        return new SlotSelection(Name, selIds, scores, topT, n, total, 0, 0, 0);
    }

    private static ulong NextBelow(ref ulong state, ulong bound)
    {
        // Rejection sampling keeps the draw unbiased.
        ulong limit = ulong.MaxValue - (ulong.MaxValue % bound);
        while (true)
        {
            ulong r = SplitMix64(ref state);
            if (r < limit)
            {
                return r % bound;
            }
        }
    }

    private static ulong SplitMix64(ref ulong state)
    {
        unchecked
        {
            ulong z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
