namespace SparseMemory.Finetuning;

/// <summary>
/// The value rows a ranker chose for one batch, in rank order, with statistics for metrics.jsonl.
/// </summary>
/// <param name="Ranker">Name of the ranker that made the selection.</param>
/// <param name="SlotIds">Selected slot ids, best first (ties broken by slot id ascending).</param>
/// <param name="Scores">The float64 score of each selected slot, parallel to <paramref name="SlotIds"/>.</param>
/// <param name="RequestedTopT">The t that was asked for.</param>
/// <param name="CandidateCount">Number of slots read by the batch (c(i) &gt; 0): the ranking candidates.</param>
/// <param name="TotalAccesses">Σ c(i) of the batch.</param>
/// <param name="ZeroScoreSelected">Selected slots whose score is exactly 0 (e.g. TF-IDF with df = |B|).</param>
/// <param name="NegativeScoreSelected">Selected slots with a negative score (possible for KL).</param>
/// <param name="ExcludedZeroScore">Candidates dropped because their score is 0 (TF-IDF with <c>ExcludeZeroIdf</c>).</param>
public sealed record SlotSelection(
    string Ranker,
    long[] SlotIds,
    double[] Scores,
    int RequestedTopT,
    int CandidateCount,
    long TotalAccesses,
    int ZeroScoreSelected,
    int NegativeScoreSelected,
    int ExcludedZeroScore)
{
    /// <summary>Number of selected slots.</summary>
    public int Count => SlotIds.Length;
}
