using SparseMemory.Memory;
using SparseMemory.Model;
using SparseMemory.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SparseMemory.Finetuning;

/// <summary>
/// Sparse memory finetuning (Lin et al. 2025, §3): every step counts the memory slots the batch read (padding
/// excluded), ranks them against background statistics (TF-IDF by default), and updates only the value rows of the
/// top-t slots; every other parameter is frozen. The same class with the <see cref="AllAccessedRanker"/> is the
/// "memory-all" ablation.
/// <para>Efficiency: the model runs with <see cref="LanguageModel.CaptureValueReads"/>, so backward stops at the value
/// reads y = Σ w·V[id] (nothing below the memory layer requires grad, and no [S, Dv] table gradient is built). The
/// selected rows' gradient is then ∂L/∂V[r] = Σ over reads of r of w · ∂L/∂y(token), formed in one pass over
/// the reads that hit selected rows (<see cref="ValueRowGradients"/>: managed on the CPU in float32, one index_add elsewhere;
/// the same formation as the lazy value updates of pretraining and full finetuning).</para>
/// </summary>
public sealed class SparseMemoryMethod : ITrainingMethod, IDisposable
{
    /// <summary>Registry entry of sparse memory finetuning (see <see cref="FinetuneMethods"/>).</summary>
    public static readonly FinetuneMethodSpec Spec = SpecFor("sparse", "sparse memory finetuning: the top-t value rows by the ranker (Lin et al. 2025)", ranker: null);

    /// <summary>Registry entry of the memory-all ablation: every value row the batch read (the all-accessed ranker).</summary>
    public static readonly FinetuneMethodSpec MemoryAllSpec = SpecFor("memory_all", "ablation: every value row the batch read", AllAccessedRanker.Spec.Name);

    const string ValueTable = "memory_values.weight";

    /// <summary>A sparse-memory registry entry; <paramref name="ranker"/> fixes the ranker (null: the config's <c>sparse.ranker</c>).</summary>
    static FinetuneMethodSpec SpecFor(string name, string description, string? ranker)
    {
        string Ranker(Config.FinetuneConfig c) => ranker ?? c.Sparse.Ranker;
        return new FinetuneMethodSpec(
            Name: name,
            Description: description,
            DefaultLr: 100.0,
            ClipGradNorm: 0.0,
            NeedsMemoryLayer: true,
            NeedsBackground: c => SlotRankers.Registry.Get(Ranker(c), "sparse.ranker").NeedsBackground,
            Trains: (_, weight) => weight == ValueTable,
            Label: c => ranker is null ? $"{name} t={c.Sparse.TopT} ({c.Sparse.Optimizer}, {Ranker(c)})" : $"{name} ({c.Sparse.Optimizer})",
            Create: (c, lr, bg) => new SparseMemoryMethod(new SparseMemoryOptions(c.Sparse.TopT, Ranker(c), c.Sparse.Optimizer, lr,
                c.Sparse.WeightDecay, c.Sparse.ExcludeZeroIdf, c.Seed), bg),
            Validate: (c, e) =>
            {
                c.Sparse.Validate(e, "sparse");
                if (SlotRankers.Registry.Find(Ranker(c)) is null) e.Add(SlotRankers.Registry.UnknownMessage(Ranker(c), "sparse.ranker"));
                if (RowOptimizers.Registry.Find(c.Sparse.Optimizer) is not { } opt) e.Add(RowOptimizers.Registry.UnknownMessage(c.Sparse.Optimizer, "sparse.optimizer"));
                else if (!opt.SupportsWeightDecay && c.Sparse.WeightDecay != 0)
                    e.Add($"sparse.weight_decay needs a row optimizer with decay (adam_w); {opt.Name} has none, so unselected rows cannot move");
            });
    }

    readonly SparseMemoryOptions _options;
    readonly BackgroundStats? _background;
    readonly ISlotRanker _ranker;
    readonly RowTableOptimizer _optimizer;
    readonly ValueRowGradients _rowGradients = new();
    LanguageModel? _model;

    /// <summary>Creates the method; background statistics are required by TF-IDF and KL.</summary>
    public SparseMemoryMethod(SparseMemoryOptions options, BackgroundStats? background)
    {
        _options = options;
        _background = background;
        _ranker = SlotRankers.Create(options.Ranker, options.TopT, background, new RankerSettings(options.Seed, options.ExcludeZeroIdf));
        _optimizer = new RowTableOptimizer(RowOptimizers.Registry.Get(options.Optimizer, "sparse.optimizer").Create(options.WeightDecay),
            options.Optimizer, options.Lr, options.WeightDecay);
    }

    /// <inheritdoc/>
    public string Name => SlotRankers.Registry.Find(_options.Ranker) == AllAccessedRanker.Spec ? "memory-all" : "sparse";

    /// <inheritdoc/>
    public bool NeedsAccessLog => true;

    /// <summary>Rows selected at the most recent step (sorted by rank).</summary>
    public long[] LastSelection { get; private set; } = [];

    /// <inheritdoc/>
    public void Prepare(LanguageModel model)
    {
        if (model.MemoryValues is null) throw new InvalidOperationException("sparse memory finetuning needs a model with a memory layer (model.memory is null)");
        if (_background is not null && _background.SlotCount != model.MemoryValues.shape[0])
            throw new InvalidDataException($"background statistics cover {_background.SlotCount} slots but the model has {model.MemoryValues.shape[0]}");
        foreach (var p in model.parameters()) p.requires_grad = false;
        model.MemoryValues.requires_grad = false;     // updated in place by the RowTableOptimizer, never through autograd
        model.CaptureValueReads = true;
        _model = model;
        _optimizer.Attach(model.MemoryValues);
    }

    /// <inheritdoc/>
    public IReadOnlyList<ParamGroupSpec> ParameterGroups(LanguageModel model) =>
        [new ParamGroupSpec("values", [model.MemoryValues!], _options.Lr, _options.WeightDecay, LrSchedule.Constant)];

    /// <inheritdoc/>
    public IStepOptimizer? CreateOptimizer(IReadOnlyList<ParamGroupSpec> groups, LoopSettings loop) => _optimizer;

    /// <inheritdoc/>
    public void AfterBackward(StepContext context)
    {
        var log = context.AccessLog ?? throw new InvalidOperationException("sparse memory finetuning needs the memory access log");
        var values = context.Model.MemoryValues!;
        long slots = values.shape[0];
        var counts = SlotCounts.FromLog(log, slots);
        var selection = _ranker.Select(counts.Counts, _background, _options.TopT);
        long[] rows = selection.SlotIds;
        LastSelection = rows;
        var rowGrads = rows.Length == 0 ? null : RowGradients(log, rows, values);
        _optimizer.SetRows(rows, rowGrads);
        // The trainer's grad_norm covers autograd gradients only; this method's gradient is that of the selected rows.
        context.Metrics["grad_norm"] = rowGrads is null ? 0 : torch.linalg.vector_norm(rowGrads).to(ScalarType.Float64).item<double>();
        context.Metrics["selected_slots"] = rows.Length;
        context.Metrics["candidate_slots"] = selection.CandidateCount;
        context.Metrics["accesses"] = counts.TotalAccesses;
        context.Metrics["zero_score_selected"] = selection.ZeroScoreSelected;
        if (selection.Scores.Length > 0)
        {
            context.Metrics["score_max"] = selection.Scores[0];
            context.Metrics["score_min_selected"] = selection.Scores[^1];
        }
    }

    /// <summary>∂L/∂V[rows] as [rows, Dv], from the captured reads' gradients (summed over memory layers).</summary>
    internal Tensor RowGradients(MemoryAccessLog log, long[] rows, Tensor values) => _rowGradients.Compute(log, rows, values);

    /// <summary>The libtorch formation of <see cref="RowGradients"/>: every device and dtype, and the reference in tests.</summary>
    internal Tensor RowGradientsWithTorch(MemoryAccessLog log, long[] rows, Tensor values) => _rowGradients.ComputeWithTorch(log, rows, values);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_model is not null) _model.CaptureValueReads = false;
        _rowGradients.Dispose();
        _optimizer.Dispose();
    }
}
