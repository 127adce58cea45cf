namespace SparseMemory.Finetuning;

/// <summary>
/// Whether padding positions contribute to slot access counts (docs/method.md#padding-is-not-counted).
/// </summary>
public enum PadPolicy
{
    /// <summary>Pad positions are excluded from c and df (the paper's rule, §5.1; the default).</summary>
    ExcludePadding = 0,

    /// <summary>Pad positions are counted like real tokens. Only for parity tests against peer implementations.</summary>
    IncludePadding = 1,
}
