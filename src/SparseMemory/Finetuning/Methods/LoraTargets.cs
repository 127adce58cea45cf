namespace SparseMemory.Finetuning;

/// <summary>
/// Which <see cref="Model.Projection"/> matrices receive a LoRA adapter (paper §3.5: "all attention and FFN matrices",
/// or attention only).
/// </summary>
/// <remarks>
/// Memory-layer projections (the product-key query, gate and output maps inside
/// <see cref="Memory.ProductKeyMemory"/>) are deliberately never targets: they are plain linear layers rather than
/// <see cref="Model.Projection"/>s, and putting adapters on the memory layer made a poor baseline (docs/baselines.md#lora-placement). The
/// LM head and embeddings are not targets either.
/// </remarks>
[Flags]
public enum LoraTargets
{
    /// <summary>No projection (invalid for training).</summary>
    None = 0,
    /// <summary>Attention matrices <c>wq</c>, <c>wk</c>, <c>wv</c>, <c>wo</c> of every block.</summary>
    Attention = 1,
    /// <summary>SwiGLU matrices <c>w1</c>, <c>w2</c>, <c>w3</c> of every dense (non-memory) block.</summary>
    FeedForward = 2,
    /// <summary>Attention and feed-forward matrices.</summary>
    All = Attention | FeedForward,
}
