using SparseMemory.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>
/// Every parameter trains with AdamW (pretraining, and the full-finetuning baseline). Groups: the memory value
/// table at its own fixed lr (Berges et al.: 1e-3, clipped separately), matrices with weight decay, and 1-D
/// parameters (norm gains, biases) without decay.
/// <para>With <paramref name="lazyValues"/> (the default of both jobs) the value table is updated lazily: the model
/// reads values outside autograd (<see cref="LanguageModel.CaptureValueReads"/>; the read weights stay in the graph, so
/// keys and query learn as before), so no dense [S, Dv] table gradient is built; after backward the rows the batch read
/// (<see cref="ValueRowGradients.TouchedRows"/>) get their gradient, and only they get moments and an update
/// (<see cref="LazyValueOptimizer"/>; docs/method.md#lazy-value-updates). Without it the table is an ordinary dense
/// AdamW parameter.</para>
/// <para><paramref name="trainable"/> (by state-dict name; null = every parameter) freezes the rest: they get no
/// gradient and belong to no group (<c>smf retrofit</c> heals only the inserted memory this way).</para>
/// </summary>
public sealed class FullTraining(double lr, double weightDecay, double valueLr, double valueWeightDecay, LrSchedule schedule,
    LrSchedule valueSchedule = LrSchedule.Constant, bool lazyValues = true, Func<string, bool>? trainable = null) : ITrainingMethod, IDisposable
{
    /// <summary>State-dict name of the memory value table.</summary>
    const string ValueTable = "memory_values.weight";

    /// <summary>Name of the value table's parameter group.</summary>
    public const string ValuesGroup = "values";

    readonly ValueRowGradients _rowGradients = new();
    LanguageModel? _model;
    LazyValueOptimizer? _optimizer;

    /// <inheritdoc/>
    public string Name => "full";

    /// <summary>Whether the value table is updated lazily (asked for, and the model has one).</summary>
    public bool LazyValues => lazyValues && _model?.MemoryValues is not null;

    /// <inheritdoc/>
    public bool NeedsAccessLog => LazyValues;

    /// <summary>Rows updated at the most recent step (lazy value updates only; ascending).</summary>
    public long[] LastTouchedRows { get; private set; } = [];

    /// <inheritdoc/>
    public void Prepare(LanguageModel model)
    {
        _model = model;
        foreach (var (name, p) in model.named_parameters()) p.requires_grad = trainable?.Invoke(name) ?? true;
        if (!LazyValues) return;
        model.MemoryValues!.requires_grad = false;       // updated by LazyValueOptimizer from row gradients, never through autograd
        model.CaptureValueReads = true;
    }

    /// <inheritdoc/>
    public IReadOnlyList<ParamGroupSpec> ParameterGroups(LanguageModel model)
    {
        // By name: TorchSharp hands out a new Parameter wrapper (with its own handle) on every access, so reference
        // equality with model.MemoryValues never holds (it once put the table in the decay group too: stepped twice).
        var named = model.named_parameters().Where(p => trainable?.Invoke(p.name) ?? true).ToList();
        var values = named.Where(p => p.name == ValueTable).Select(p => p.parameter).SingleOrDefault();
        var rest = named.Where(p => p.name != ValueTable).ToList();
        var groups = new List<ParamGroupSpec>();
        if (values is not null) groups.Add(new(ValuesGroup, [values], valueLr, valueWeightDecay, valueSchedule, ClipSeparately: true));
        groups.Add(new("decay", rest.Where(p => p.parameter.dim() >= 2).Select(p => p.parameter).ToList(), lr, weightDecay, schedule));
        groups.Add(new("no_decay", rest.Where(p => p.parameter.dim() < 2).Select(p => p.parameter).ToList(), lr, 0.0, schedule));
        return groups.Where(g => g.Parameters.Count > 0).ToList();
    }

    /// <inheritdoc/>
    public IStepOptimizer? CreateOptimizer(IReadOnlyList<ParamGroupSpec> groups, LoopSettings loop)
    {
        if (!LazyValues) return null;
        _optimizer?.Dispose();
        return _optimizer = new LazyValueOptimizer(groups, ValuesGroup, loop);
    }

    /// <inheritdoc/>
    public void AfterBackward(StepContext context)
    {
        if (!LazyValues) return;
        var log = context.AccessLog ?? throw new InvalidOperationException("lazy value updates need the memory access log");
        var optimizer = _optimizer ?? throw new InvalidOperationException("lazy value updates need the optimizer of CreateOptimizer");
        var values = context.Model.MemoryValues!;
        long[] rows = _rowGradients.TouchedRows(log, values.shape[0]);
        LastTouchedRows = rows;
        optimizer.SetValueRows(rows, rows.Length == 0 ? null : _rowGradients.Compute(log, rows, values));
        context.Metrics["value_rows"] = rows.Length;
    }

    /// <summary>Ends capture mode on the model (it reads values through autograd again) and frees the optimizer state.</summary>
    public void Dispose()
    {
        if (_model is not null && LazyValues)
        {
            _model.CaptureValueReads = false;
            _model.MemoryValues!.requires_grad = true;
        }
        _optimizer?.Dispose();
        _optimizer = null;
        _rowGradients.Dispose();
    }
}
