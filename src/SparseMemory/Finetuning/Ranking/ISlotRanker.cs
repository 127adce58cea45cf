namespace SparseMemory.Finetuning;

/// <summary>
/// Chooses the value rows that SMF trains for one batch (docs/method.md#slot-ranking).
/// </summary>
/// <remarks>
/// Conventions shared by every ranker: counts and statistics are per value row of the one shared table,
/// summed over memory layers; a slot hit by several heads of one token counts once per hit; scores are
/// float64 with natural logs; only slots read by the batch (c(i) &gt; 0) are candidates; ties are broken by
/// slot id ascending, so a selection is a pure function of its inputs.
/// </remarks>
public interface ISlotRanker
{
    /// <summary>The registered name (its <see cref="RankerSpec"/>'s, e.g. <c>tf_idf</c>): one spelling in configs, logs and metrics.</summary>
    string Name { get; }

    /// <summary>Selects up to <paramref name="topT"/> slots for the batch.</summary>
    /// <param name="counts">c(i) of the batch, length S.</param>
    /// <param name="background">Background statistics of the same table; required by TF-IDF and KL.</param>
    /// <param name="topT">t, the number of rows to train; must be positive.</param>
    SlotSelection Select(long[] counts, BackgroundStats? background, int topT);
}
