using SparseMemory.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>
/// Steps rows of one table (the memory values) with an <see cref="IRowUpdate"/>, from row gradients handed over each
/// step with <see cref="SetRows"/> (formed outside autograd by <see cref="ValueRowGradients"/>). Rows not handed over
/// are never written. Used on its own by sparse memory finetuning and inside <see cref="LazyValueOptimizer"/>.
/// </summary>
/// <param name="update">The row update rule; owned (disposed with this optimizer).</param>
/// <param name="name">The rule's name, written as the <c>optimizer</c> metadata of the saved state.</param>
/// <param name="baseLr">Base learning rate of the table's group.</param>
/// <param name="weightDecay">The group's weight decay (applied by <paramref name="update"/>; reported in <see cref="Groups"/>).</param>
public sealed class RowTableOptimizer(IRowUpdate update, string name, double baseLr, double weightDecay) : IStepOptimizer
{
    Parameter? _values;
    long[] _rows = [];
    Tensor? _rowGrads;
    readonly double _baseLr = baseLr;
    double _lr = baseLr;

    /// <summary>One group, "values", at a constant lr.</summary>
    public IReadOnlyList<ParamGroupSpec> Groups =>
        [new ParamGroupSpec("values", _values is null ? [] : [_values], _baseLr, weightDecay, LrSchedule.Constant)];

    /// <summary>The table this optimizer updates.</summary>
    public void Attach(Parameter values) => _values = values;

    /// <summary>This step's rows (distinct) and their gradients [rows, Dv], or null when no row is updated; taken over (disposed by this optimizer).</summary>
    public void SetRows(long[] rows, Tensor? rowGrads)
    {
        _rows = rows;
        _rowGrads?.Dispose();
        _rowGrads = rowGrads?.DetachFromDisposeScope();
    }

    /// <summary>This step's rows, as handed over by <see cref="SetRows"/>.</summary>
    public long[] Rows => _rows;

    /// <inheritdoc/>
    public (Tensor Table, long[] Rows)? UpdatedRows => _values is null ? null : (_values, _rows);

    /// <inheritdoc/>
    public void SetLearningRate(int group, double lr) => _lr = lr;

    /// <summary>The row gradients of this step: the trainer clips them and counts them in the gradient norm.</summary>
    public IReadOnlyList<Tensor> HeldGradients(int group) => _rowGrads is null ? [] : [_rowGrads];

    /// <inheritdoc/>
    public void Step()
    {
        if (_values is null || _rowGrads is null || _rows.Length == 0) return;
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        update.StepRows(_values, _rowGrads, _rows, _lr);
    }

    /// <inheritdoc/>
    public void ZeroGrad()
    {
        _rowGrads?.Dispose();
        _rowGrads = null;
        _rows = [];
    }

    /// <summary>The row update's state (for a composite optimizer that writes one file).</summary>
    public IReadOnlyList<(string Name, Tensor Tensor)> State() => update.State();

    /// <summary>Restores what <see cref="State"/> returned.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> state, string origin) => update.LoadState(state, origin);

    /// <summary>The row update's state as safetensors (metadata <c>optimizer</c> = the rule's name).</summary>
    public void Save(Stream destination) =>
        SafeTensors.Write(destination, update.State(), new Dictionary<string, string> { ["optimizer"] = name });

    /// <inheritdoc/>
    public void Load(Stream source, string origin) => update.LoadState(SafeTensors.Load(source, origin).Tensors, origin);

    /// <inheritdoc/>
    public void Dispose()
    {
        _rowGrads?.Dispose();
        update.Dispose();
    }
}
