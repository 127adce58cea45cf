using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Memory;

/// <summary>One memory layer's reads during one forward pass.</summary>
/// <param name="Layer">Index of the transformer block that holds the memory layer.</param>
/// <param name="Indices">Slot ids read, [B, T, H·K] (int64). Lives in the caller's dispose scope.</param>
/// <param name="Weights">Softmax weights of those reads, [B, T, H·K] (detached).</param>
/// <param name="ValidMask">[B, T] bool, true at real tokens and false at padding; null when nothing is padded.</param>
/// <param name="Read">
/// A [B·T, Dv] leaf that requires grad and whose <c>grad</c> after backward is ∂loss/∂y of the value read
/// y = Σ w·V[id] — only when the model captures value reads (<see cref="Model.LanguageModel.CaptureValueReads"/>). It is
/// y itself when nothing upstream of y needs a gradient (sparse finetuning), and a zero tensor added to y when the read
/// weights do (lazy value updates, where keys and query train). From it the gradient of any chosen value rows follows
/// without a dense gradient of the whole table.
/// </param>
/// <param name="Gate">The Memory+ gate silu(W1 x + b1) that multiplies the read, [B, T, Dv] (detached); null for an ungated memory.</param>
public sealed record MemoryAccess(int Layer, Tensor Indices, Tensor Weights, Tensor? ValidMask, Tensor? Read = null, Tensor? Gate = null);

/// <summary>
/// Collects what every memory layer read during forward passes, in train and eval mode alike (no
/// eval-only <c>last_indices</c> flag; see docs/pitfalls.md#access-logging-in-train-mode). Attach one to a forward call, read it, clear it.
/// Tensors in it belong to the dispose scope of the forward pass: consume them before that scope ends.
/// </summary>
public sealed class MemoryAccessLog
{
    readonly List<MemoryAccess> _accesses = [];

    /// <summary>Reads in call order (one entry per memory layer per forward pass).</summary>
    public IReadOnlyList<MemoryAccess> Accesses => _accesses;

    /// <summary>Called by memory layers.</summary>
    public void Record(MemoryAccess access) => _accesses.Add(access);

    /// <summary>Forgets everything recorded so far.</summary>
    public void Clear() => _accesses.Clear();
}
