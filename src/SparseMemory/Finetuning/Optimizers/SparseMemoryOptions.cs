namespace SparseMemory.Finetuning;

/// <summary>Settings of sparse memory finetuning.</summary>
/// <param name="TopT">t: value rows trained per step (ignored by the all-accessed ranker).</param>
/// <param name="Ranker">How slots are ranked: a name in <see cref="SlotRankers.Registry"/>.</param>
/// <param name="Optimizer">Update rule for the selected rows: a name in <see cref="RowOptimizers.Registry"/>.</param>
/// <param name="Lr">Learning rate.</param>
/// <param name="WeightDecay">Decoupled weight decay (rules that support it only; applied to selected rows only).</param>
/// <param name="ExcludeZeroIdf">Never select slots whose score is 0 (TF-IDF: used by every background batch).</param>
/// <param name="Seed">Seed of the random ranker.</param>
public sealed record SparseMemoryOptions(int TopT, string Ranker, string Optimizer, double Lr,
    double WeightDecay = 0, bool ExcludeZeroIdf = false, long Seed = 1);
