namespace SparseMemory.Finetuning;

/// <summary>
/// KL slot ranking as coded by the authors of arXiv 2605.03229 (docs/method.md#kl-ranking):
/// p_batch(i) = c(i) / Σ_j c(j), p_bg(i) = (C_bg(i) + 1) / Σ_j (C_bg(j) + 1),
/// score(i) = p_batch(i) · ln((p_batch(i) + 1e-8) / (p_bg(i) + 1e-8)).
/// </summary>
/// <remarks>
/// Uses the background <em>access counts</em> C_bg, not df. Candidates are the read slots; the top min(t, #read)
/// are selected even when some scores are negative (reported in <see cref="SlotSelection.NegativeScoreSelected"/>).
/// Float64, natural log, ties by slot id ascending.
/// </remarks>
public sealed class KlRanker : ISlotRanker
{
    /// <summary>Registry entry (see <see cref="SlotRankers"/>).</summary>
    public static readonly RankerSpec Spec = new("kl", "per-slot KL contribution against smoothed background frequencies (arXiv 2605.03229)", true, _ => new KlRanker());

    /// <summary>The ε added to both probabilities inside the log.</summary>
    public const double Epsilon = 1e-8;

    /// <inheritdoc />
    public string Name => Spec.Name;

    /// <inheritdoc />
    public SlotSelection Select(long[] counts, BackgroundStats? background, int topT)
    {
        ArgumentNullException.ThrowIfNull(counts);
        RankingCore.CheckTopT(topT, Name);
        var bg = RankingCore.RequireBackground(background, Name, counts.LongLength);
        var (ids, total) = RankingCore.Candidates(counts);
        var bgCounts = bg.TotalCounts;
        long bgTotal = counts.LongLength; // the "+1" of every slot
        foreach (long c in bgCounts)
        {
            bgTotal = checked(bgTotal + c);
        }

        double bgDenominator = bgTotal;
        var scores = new double[ids.Length];
        for (int p = 0; p < ids.Length; p++)
        {
            int i = ids[p];
            double pBatch = (double)counts[i] / total;
            double pBg = (bgCounts[i] + 1.0) / bgDenominator;
            scores[p] = pBatch * Math.Log((pBatch + Epsilon) / (pBg + Epsilon));
        }

        return RankingCore.SelectTop(Name, ids, scores, topT, topT, ids.Length, total, 0);
    }
}
