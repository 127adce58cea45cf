namespace SparseMemory.Finetuning;

/// <summary>The optimizer applied to the selected value rows.</summary>
public enum SparseOptimizer
{
    /// <summary>Plain SGD, no momentum, no weight decay (the paper's choice): unselected rows provably never move.</summary>
    Sgd,
    /// <summary>Row-lazy AdamW: state only for rows ever selected; only rows selected this step move (no momentum leak, no decay elsewhere).</summary>
    AdamW,
}

/// <summary>Settings of sparse memory finetuning.</summary>
/// <param name="TopT">t: value rows trained per step (ignored by the all-accessed ranker).</param>
/// <param name="Ranker">How slots are ranked.</param>
/// <param name="Optimizer">Update rule for the selected rows.</param>
/// <param name="Lr">Learning rate.</param>
/// <param name="WeightDecay">Decoupled weight decay (AdamW only; applied to selected rows only).</param>
/// <param name="ExcludeZeroIdf">Never select slots whose score is 0 (TF-IDF: used by every background batch).</param>
/// <param name="Seed">Seed of the random ranker.</param>
public sealed record SparseMemoryOptions(int TopT, SlotRankerKind Ranker, SparseOptimizer Optimizer, double Lr,
    double WeightDecay = 0, bool ExcludeZeroIdf = false, long Seed = 1);
