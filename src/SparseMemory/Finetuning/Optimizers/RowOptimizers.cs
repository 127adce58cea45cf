using SparseMemory.Config;
using static TorchSharp.torch;

namespace SparseMemory.Finetuning;

/// <summary>An update rule for selected rows of the value table; rows not passed to <see cref="Step"/> are never written.</summary>
public interface IRowUpdate : IDisposable
{
    /// <summary>Updates <paramref name="rows"/> of <paramref name="values"/> from their gradients [rows, Dv] (row i belongs to rows[i]).</summary>
    void StepRows(Tensor values, Tensor rowGrads, long[] rows, double lr);

    /// <summary>The optimizer state to save for resuming (empty when it has none).</summary>
    IReadOnlyList<(string Name, Tensor Tensor)> State();

    /// <summary>Restores what <see cref="State"/> returned (an empty list for a fresh state).</summary>
    void LoadState(IReadOnlyDictionary<string, Tensor> state, string source);
}

/// <summary>A row update rule as the registry knows it.</summary>
/// <param name="Name">Config name (<c>sparse.optimizer</c>).</param>
/// <param name="Description">One line for help texts.</param>
/// <param name="SupportsWeightDecay">Whether <c>sparse.weight_decay</c> may be non-zero.</param>
/// <param name="Create">Builds the rule for a weight decay.</param>
public sealed record RowOptimizerSpec(string Name, string Description, bool SupportsWeightDecay, Func<double, IRowUpdate> Create) : INamedEntry;

/// <summary>The row update rules of sparse memory finetuning. Adding one is a new <see cref="IRowUpdate"/> file with a static <c>Spec</c> and one line here.</summary>
public static class RowOptimizers
{
    /// <summary>Every rule; the first is the default.</summary>
    public static readonly Registry<RowOptimizerSpec> Registry = new("row optimizer", [SgdRowUpdate.Spec, RowSparseAdamW.Spec]);
}

/// <summary>Plain SGD on the selected rows, w ← w − lr·g: no momentum and no decay, so unselected rows provably never move (the paper's choice).</summary>
public sealed class SgdRowUpdate : IRowUpdate
{
    /// <summary>Registry entry (see <see cref="RowOptimizers"/>).</summary>
    public static readonly RowOptimizerSpec Spec = new("sgd", "plain SGD on the selected rows (no momentum, no decay; the paper's choice)", false, _ => new SgdRowUpdate());

    /// <inheritdoc/>
    public void StepRows(Tensor values, Tensor rowGrads, long[] rows, double lr)
    {
        var idx = tensor(rows, device: values.device);
        var updated = values.index_select(0, idx).sub_(rowGrads * lr);
        values.index_copy_(0, idx, updated);
    }

    /// <inheritdoc/>
    public IReadOnlyList<(string Name, Tensor Tensor)> State() => [];

    /// <inheritdoc/>
    public void LoadState(IReadOnlyDictionary<string, Tensor> state, string source) { }

    /// <inheritdoc/>
    public void Dispose() { }
}
