using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>
/// An update rule for rows of a table (the memory values) given only those rows' gradients; rows not passed to
/// <see cref="StepRows"/> are never written. Sparse memory finetuning steps its selected rows with one
/// (<c>sparse.optimizer</c>), lazy value updates step the rows a batch read (<see cref="LazyValueOptimizer"/>).
/// </summary>
public interface IRowUpdate : IDisposable
{
    /// <summary>Updates <paramref name="rows"/> of <paramref name="values"/> from their gradients [rows, Dv] (row i belongs to rows[i]).</summary>
    void StepRows(Tensor values, Tensor rowGrads, long[] rows, double lr);

    /// <summary>The optimizer state to save for resuming (empty when it has none).</summary>
    IReadOnlyList<(string Name, Tensor Tensor)> State();

    /// <summary>Restores what <see cref="State"/> returned (an empty list for a fresh state).</summary>
    void LoadState(IReadOnlyDictionary<string, Tensor> state, string source);
}
