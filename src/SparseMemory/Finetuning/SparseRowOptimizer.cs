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
    readonly RowSparseAdamW? _adam = options.Optimizer == SparseOptimizer.AdamW ? new RowSparseAdamW(weightDecay: options.WeightDecay) : null;
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
        if (_adam is not null) { _adam.StepRows(_values, _rowGrads, _rows, _lr); return; }
        var idx = torch.tensor(_rows, device: _values.device);
        var updated = _values.index_select(0, idx).sub_(_rowGrads * _lr);
        _values.index_copy_(0, idx, updated);
    }

    public void ZeroGrad()
    {
        _rowGrads?.Dispose();
        _rowGrads = null;
        _rows = [];
    }

    public void Save(string path)
    {
        if (_adam is not null) _adam.SaveState(path);
        else SparseMemory.Checkpoints.SafeTensors.Save(path, [], new Dictionary<string, string> { ["optimizer"] = "sgd" });
    }

    public void Load(string path)
    {
        if (_adam is not null) _adam.LoadState(path);
    }

    public void Dispose()
    {
        _rowGrads?.Dispose();
        _adam?.Dispose();
    }
}
