using SparseMemory.Checkpoints;
using SparseMemory.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SparseMemory.Finetuning;

/// <summary>
/// Applies the update of <see cref="SparseMemoryMethod"/> to the selected value rows only: SGD
/// (w ← w − lr·g, no momentum, no decay) or row-lazy AdamW. Rows not selected this step are never written.
/// </summary>
internal sealed class SparseRowOptimizer(SparseMemoryOptions options) : IStepOptimizer
{
    readonly IRowUpdate _update = RowOptimizers.Registry.Get(options.Optimizer, "sparse.optimizer").Create(options.WeightDecay);
    Parameter? _values;
    long[] _rows = [];
    Tensor? _rowGrads;
    double _lr = options.Lr;

    public IReadOnlyList<ParamGroupSpec> Groups =>
        [new ParamGroupSpec("values", _values is null ? [] : [_values], options.Lr, options.WeightDecay, LrSchedule.Constant)];

    public void Attach(Parameter values) => _values = values;

    public void SetRows(long[] rows, Tensor? rowGrads)
    {
        _rows = rows;
        _rowGrads?.Dispose();
        _rowGrads = rowGrads?.DetachFromDisposeScope();
    }

    public void SetLearningRate(int group, double lr) => _lr = lr;

    public void Step()
    {
        if (_values is null || _rowGrads is null || _rows.Length == 0) return;
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        _update.StepRows(_values, _rowGrads, _rows, _lr);
    }

    public void ZeroGrad()
    {
        _rowGrads?.Dispose();
        _rowGrads = null;
        _rows = [];
    }

    /// <summary>The row update's state as safetensors (metadata <c>optimizer</c> = the row optimizer's name).</summary>
    public void Save(Stream destination) =>
        SafeTensors.Write(destination, _update.State(), new Dictionary<string, string> { ["optimizer"] = options.Optimizer });

    public void Load(Stream source, string origin) => _update.LoadState(SafeTensors.Load(source, origin).Tensors, origin);

    public void Dispose()
    {
        _rowGrads?.Dispose();
        _update.Dispose();
    }
}
