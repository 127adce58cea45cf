using SparseMemory.Config;
using SparseMemory.Training;
using static TorchSharp.torch;

namespace SparseMemory.Finetuning;

/// <summary>A row update rule as the registry knows it.</summary>
/// <param name="Name">Config name (<c>sparse.optimizer</c>).</param>
/// <param name="Description">One line for help texts.</param>
/// <param name="SupportsWeightDecay">Whether <c>sparse.weight_decay</c> may be non-zero.</param>
/// <param name="Create">Builds the rule for a weight decay.</param>
public sealed record RowOptimizerSpec(string Name, string Description, bool SupportsWeightDecay, Func<double, IRowUpdate> Create) : INamedEntry;

/// <summary>The row update rules of sparse memory finetuning. Adding one is a new <see cref="IRowUpdate"/> file with a static <c>Spec</c> and one line here.</summary>
public static class RowOptimizers
{
    /// <summary>Row-lazy AdamW (<see cref="RowSparseAdamW"/>, shared with the lazy value updates of pretraining and full finetuning).</summary>
    public static readonly RowOptimizerSpec AdamWSpec = new("adam_w", "row-lazy AdamW: state only for rows ever selected; only rows selected this step move", true,
        wd => new RowSparseAdamW(weightDecay: wd));

    /// <summary>Every rule; the first is the default (declared after the entries it lists: static fields initialise in order).</summary>
    public static readonly Registry<RowOptimizerSpec> Registry = new("row optimizer", [SgdRowUpdate.Spec, AdamWSpec]);
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
