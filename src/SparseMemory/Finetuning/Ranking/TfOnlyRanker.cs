namespace SparseMemory.Finetuning;

/// <summary>
/// TF-only ranking (the paper's ablation, §6): score(i) = c(i) / Σ_j c(j) in float64; candidates are the read
/// slots; the top min(t, #read) are selected, ties by slot id ascending. Needs no background statistics.
/// </summary>
public sealed class TfOnlyRanker : ISlotRanker
{
    /// <summary>Registry entry (see <see cref="SlotRankers"/>).</summary>
    public static readonly RankerSpec Spec = new("tf_only", "batch access frequency only (the paper's TF-only ablation)", false, _ => new TfOnlyRanker());

    /// <inheritdoc />
    public string Name => Spec.Name;

    /// <inheritdoc />
    public SlotSelection Select(long[] counts, BackgroundStats? background, int topT)
    {
        ArgumentNullException.ThrowIfNull(counts);
        RankingCore.CheckTopT(topT, Name);
        if (background is not null)
        {
            RankingCore.CheckSlotCount(background, counts.LongLength);
        }

        var (ids, total) = RankingCore.Candidates(counts);
        var scores = new double[ids.Length];
        for (int p = 0; p < ids.Length; p++)
        {
            scores[p] = (double)counts[ids[p]] / total;
        }

        return RankingCore.SelectTop(Name, ids, scores, topT, topT, ids.Length, total, 0);
    }
}
