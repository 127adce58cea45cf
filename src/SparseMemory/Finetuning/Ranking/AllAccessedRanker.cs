namespace SparseMemory.Finetuning;

/// <summary>
/// Selects every slot read by the batch and ignores t (naive memory finetuning, docs/method.md#all-accessed-ranking). The selection
/// is ordered by tf = c(i)/Σc descending, then slot id, and carries tf as the score.
/// </summary>
public sealed class AllAccessedRanker : ISlotRanker
{
    /// <summary>Registry entry (see <see cref="SlotRankers"/>).</summary>
    public static readonly RankerSpec Spec = new("all_accessed", "every read slot, ignoring t (naive memory finetuning)", false, _ => new AllAccessedRanker());

    /// <inheritdoc />
    public string Name => Spec.Name;

    /// <inheritdoc />
    public SlotSelection Select(long[] counts, BackgroundStats? background, int topT)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var (ids, total) = RankingCore.Candidates(counts);
        var scores = new double[ids.Length];
        for (int p = 0; p < ids.Length; p++)
        {
            scores[p] = (double)counts[ids[p]] / total;
        }

        return RankingCore.SelectTop(Name, ids, scores, ids.Length, topT, ids.Length, total, 0);
    }
}
