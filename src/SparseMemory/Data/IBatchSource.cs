using static TorchSharp.torch;

namespace SparseMemory.Data;

/// <summary>One optimizer step's data (CPU tensors; the trainer moves them to the device).</summary>
/// <param name="Inputs">Token ids [B, T] (int64).</param>
/// <param name="Targets">Next-token targets [B, T] (int64); −1 marks positions without loss (padding, prompts).</param>
/// <param name="ValidMask">[B, T] bool, false at padding (right-padded); null when nothing is padded.</param>
public sealed record TrainingBatch(Tensor Inputs, Tensor Targets, Tensor? ValidMask);

/// <summary>Deterministic batches by step number, so a resumed run sees exactly the batches it would have seen.</summary>
public interface IBatchSource
{
    /// <summary>The batch of optimizer step <paramref name="step"/> (0-based).</summary>
    TrainingBatch Get(int step);
}
