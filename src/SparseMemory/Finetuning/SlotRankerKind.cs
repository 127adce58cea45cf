namespace SparseMemory.Finetuning;

/// <summary>The available slot rankers.</summary>
public enum SlotRankerKind
{
    /// <summary>TF-IDF, as in Lin et al. 2025 (the default).</summary>
    TfIdf = 0,

    /// <summary>Batch access frequency only (the paper's TF-only ablation).</summary>
    TfOnly = 1,

    /// <summary>Per-slot KL contribution against smoothed background frequencies (arXiv 2605.03229).</summary>
    Kl = 2,

    /// <summary>A seeded uniform random subset of the read slots (a control).</summary>
    Random = 3,

    /// <summary>Every read slot, ignoring t (naive memory finetuning).</summary>
    AllAccessed = 4,
}
