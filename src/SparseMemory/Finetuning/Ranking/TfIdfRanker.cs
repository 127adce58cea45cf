namespace SparseMemory.Finetuning;

/// <summary>
/// TF-IDF slot ranking exactly as in Lin et al. 2025 (docs/method.md#tf-idf-ranking):
/// tf(i) = c(i) / Σ_j c(j), idf(i) = ln((|B| + 1) / (df(i) + 1)), score(i) = tf(i) · idf(i).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Candidates are the slots read by the batch (c(i) &gt; 0); the top min(t, #read) are selected.</item>
/// <item>Scores are float64 with the natural log (the base does not change the ranking).</item>
/// <item>Ties are broken by slot id ascending, so the selection is deterministic.</item>
/// <item>Zero-IDF slots (df = |B|, score 0) may fill t when fewer than t slots score positive, as "top-t by score"
/// implies and as peers do; <see cref="ExcludeZeroIdf"/> forbids that, and the selection reports how many were
/// picked or dropped either way.</item>
/// <item>c and df are per value row of the shared table, summed over memory layers, with every (token, head,
/// rank) access counted (see <see cref="SlotCounts"/>).</item>
/// </list>
/// </remarks>
/// <param name="excludeZeroIdf">Never select slots whose score is 0.</param>
public sealed class TfIdfRanker(bool excludeZeroIdf = false) : ISlotRanker
{
    /// <summary>Registry entry (see <see cref="SlotRankers"/>).</summary>
    public static readonly RankerSpec Spec = new("tf_idf", "TF-IDF of slot accesses against background statistics (Lin et al. 2025; the default)", true, s => new TfIdfRanker(s.ExcludeZeroIdf));

    /// <summary>When true, slots with score 0 (df = |B|) are never selected. Default false (faithful).</summary>
    public bool ExcludeZeroIdf { get; } = excludeZeroIdf;

    /// <inheritdoc />
    public string Name => Spec.Name;

    /// <inheritdoc />
    public SlotSelection Select(long[] counts, BackgroundStats? background, int topT)
    {
        ArgumentNullException.ThrowIfNull(counts);
        RankingCore.CheckTopT(topT, Name);
        var bg = RankingCore.RequireBackground(background, Name, counts.LongLength);
        var (ids, total) = RankingCore.Candidates(counts);
        var df = bg.DocumentFrequency;
        double batchesPlusOne = bg.NumBatches + 1.0;
        var scores = new double[ids.Length];
        for (int p = 0; p < ids.Length; p++)
        {
            int i = ids[p];
            double tf = (double)counts[i] / total;
            double idf = Math.Log(batchesPlusOne / (df[i] + 1.0));
            scores[p] = tf * idf;
        }

        int excluded = 0;
        if (ExcludeZeroIdf)
        {
            int kept = 0;
            for (int p = 0; p < ids.Length; p++)
            {
                if (scores[p] != 0)
                {
                    ids[kept] = ids[p];
                    scores[kept] = scores[p];
                    kept++;
                }
            }

            excluded = ids.Length - kept;
            Array.Resize(ref ids, kept);
            Array.Resize(ref scores, kept);
        }

        return RankingCore.SelectTop(Name, ids, scores, topT, topT, ids.Length + excluded, total, excluded);
    }
}
