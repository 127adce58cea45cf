using SparseMemory.Data;
using SparseMemory.Memory;
using SparseMemory.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>What one training step measured.</summary>
/// <param name="Loss">The batch loss before the update.</param>
/// <param name="GradNorm">The pre-clip gradient norm (autograd gradients and an optimizer's held row gradients).</param>
/// <param name="Metrics">Extra metrics the method reported (<c>grad_norm</c> of its own rows, <c>selected_slots</c>, …).</param>
/// <param name="Tokens">Tokens of the batch (padding excluded).</param>
public sealed record StepOutcome(double Loss, double GradNorm, IReadOnlyDictionary<string, double> Metrics, long Tokens);

/// <summary>
/// One training step, the same for every caller (<see cref="Trainer"/>, hence <c>smf pretrain</c> and
/// <c>smf finetune</c>, and the learns of <c>smf serve</c>): forward (recording memory reads when the method wants
/// them) → backward → <see cref="ITrainingMethod.AfterBackward"/> → clip → the divergence checks on the loss and the
/// gradient norms → optimizer step → the check of the value rows the step updated → zero grads. A diverged step throws
/// <see cref="TrainingDivergedException"/> (<see cref="NonFiniteException"/> for NaN/±inf): before the update when the
/// loss or a gradient norm gives it away, after it when an updated row does (the caller then still holds whatever it
/// saved of the old rows; <c>smf serve</c> puts them back, <c>smf finetune</c> stops without writing the step).
/// </summary>
/// <remarks>
/// The step runs inside the caller's dispose scope and on the caller's thread (grad mode and dispose scopes are per
/// thread). The optimizer is built here from the method's groups, so a caller has one object to keep.
/// </remarks>
public sealed class TrainStep
{
    readonly LanguageModel _model;
    readonly ITrainingMethod _method;
    readonly LoopSettings _loop;
    readonly List<ParamGroupSpec> _groups;
    readonly MemoryAccessLog? _log;

    /// <summary>Prepares the method on <paramref name="model"/> and builds its optimizer.</summary>
    public TrainStep(LanguageModel model, ITrainingMethod method, LoopSettings loop)
    {
        _model = model;
        _method = method;
        _loop = loop;
        _method.Prepare(model);
        var groups = _method.ParameterGroups(model).ToList();
        if (groups.Count == 0 || groups.All(g => g.Parameters.Count == 0))
            throw new InvalidOperationException($"method {method.Name} declared no trainable parameters");
        Optimizer = method.CreateOptimizer(groups, loop) ?? new TorchStepOptimizer(groups, loop);
        _groups = Optimizer.Groups.ToList();
        _log = method.NeedsAccessLog ? new MemoryAccessLog() : null;
        Guard = new DivergenceGuard(model);
    }

    /// <summary>The optimizer in use.</summary>
    public IStepOptimizer Optimizer { get; }

    /// <summary>The optimizer groups in use.</summary>
    public IReadOnlyList<ParamGroupSpec> Groups => _groups;

    /// <summary>The finite-divergence rules and their reference values (the first step's loss, the table's row norms at start).</summary>
    public DivergenceGuard Guard { get; }

    /// <summary>The largest configured learning rate of the groups (the one to lower first).</summary>
    public double BaseLr => _groups.Max(g => g.Lr);

    /// <summary>Sets every group's lr for 0-based <paramref name="step"/> by its schedule.</summary>
    public void SetLearningRates(int step)
    {
        for (int i = 0; i < _groups.Count; i++)
            Optimizer.SetLearningRate(i, _groups[i].Lr * LrFactor(_groups[i].Schedule, step));
    }

    /// <summary>The schedule's factor at 0-based <paramref name="step"/>.</summary>
    public double LrFactor(LrSchedule s, int step) => LrScheduleMath.Factor(s, step, _loop.Steps, _loop.WarmupSteps, _loop.MinLrRatio);

    /// <summary>
    /// Runs 0-based step <paramref name="step"/> on <paramref name="batch"/> (already on the model's device).
    /// <paramref name="beforeUpdate"/> runs after every check that needs no update and right before the optimizer step
    /// (the service saves the old values of the rows the method selected there). Gradients are cleared on every exit.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The step diverged (its number in the message is <paramref name="step"/> + 1).</exception>
    public StepOutcome Run(int step, TrainingBatch batch, Action<StepContext>? beforeUpdate = null)
    {
        try
        {
            _model.train();
            _log?.Clear();
            var lossT = _model.ForwardLoss(batch.Inputs, batch.Targets, _log, batch.ValidMask);
            lossT.backward();
            var extra = new Dictionary<string, double>();
            var context = new StepContext(step, _model, batch, _log, extra);
            _method.AfterBackward(context);
            double gradNorm = Clip();
            double loss = lossT.item<float>();
            CheckStep(step + 1, loss, gradNorm, extra);           // before the update: nothing of a diverged step is applied
            beforeUpdate?.Invoke(context);
            Optimizer.Step();
            CheckUpdatedRows(step + 1);
            long n = batch.ValidMask is null ? batch.Inputs.numel() : batch.ValidMask.sum().item<long>();   // padding is not a token
            return new StepOutcome(loss, gradNorm, extra, n);
        }
        finally
        {
            Optimizer.ZeroGrad();
            _log?.Clear();
        }
    }

    /// <summary>
    /// The per-step checks, on scalars the step computes anyway (free): a non-finite loss, autograd gradient norm or
    /// method gradient norm (<c>grad_norm</c> in its metrics) throws <see cref="NonFiniteException"/>; a loss far above
    /// the first step's (<see cref="DivergenceGuard.CheckLoss"/>) throws <see cref="TrainingDivergedException"/>.
    /// </summary>
    void CheckStep(int step, double loss, double gradNorm, IReadOnlyDictionary<string, double> extra)
    {
        if (!double.IsFinite(loss)) throw new NonFiniteException(step, "loss", loss, BaseLr);
        if (!double.IsFinite(gradNorm)) throw new NonFiniteException(step, "gradient norm", gradNorm, BaseLr);
        if (extra.TryGetValue("grad_norm", out double g) && !double.IsFinite(g)) throw new NonFiniteException(step, "gradient norm", g, BaseLr);
        if (Guard.CheckLoss(loss) is { } problem) throw new TrainingDivergedException(step, problem, BaseLr);
    }

    /// <summary>The rows an optimizer updated row by row (sparse finetuning, lazy value updates): finite and within the row bound.</summary>
    void CheckUpdatedRows(int step)
    {
        if (Optimizer.UpdatedRows is not { } updated || updated.Rows.Length == 0) return;
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var rows = updated.Table.index_select(0, torch.tensor(updated.Rows));
        if (!double.IsFinite(DivergenceGuard.MaxAbs(rows))) throw new NonFiniteException(step, "memory value rows updated by this step", null, BaseLr);
        if (Guard.CheckRows(rows) is { } problem) throw new TrainingDivergedException(step, problem, BaseLr);
    }

    /// <summary>
    /// Throws <see cref="TrainingDivergedException"/> when a trainable tensor holds NaN or ±infinity after step
    /// <paramref name="step"/>'s update, or a trainable memory value table has a row beyond the row bound (a table updated
    /// densely has no list of updated rows, so it is checked here, when something is about to read it for output).
    /// </summary>
    public void CheckWeights(int step)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        foreach (var g in _groups)
            foreach (var p in g.Parameters)
                if (!torch.isfinite(p).all().item<bool>())
                {
                    string name = NameOf(p) ?? g.Name + " group";
                    throw new NonFiniteException(step, $"trainable weights ({name}) after the optimizer step", null, BaseLr);
                }
        if (_model.MemoryValues is { } table && _groups.Any(g => g.Parameters.Any(p => NameOf(p) == DivergenceGuard.ValueTable)))
        {
            if (Guard.CheckRows(table) is { } problem) throw new TrainingDivergedException(step, problem, BaseLr);
        }
    }

    string? NameOf(Tensor p)
    {
        foreach (var (name, q) in _model.named_parameters())
            if (q.Handle == p.Handle) return name;
        return null;
    }

    /// <summary>
    /// Clips separately-clipped groups on their own and the rest together; returns the pre-clip total norm. Gradients an
    /// optimizer holds outside autograd (<see cref="IStepOptimizer.HeldGradients"/>: the touched rows of a lazily updated
    /// value table) belong to their group's set; a set without any is clipped by <c>clip_grad_norm_</c>.
    /// </summary>
    double Clip()
    {
        var sets = new List<(List<Parameter> Params, List<Tensor> Held)>();
        var rest = (Params: new List<Parameter>(), Held: new List<Tensor>());
        for (int i = 0; i < _groups.Count; i++)
        {
            var set = _groups[i].ClipSeparately ? (Params: new List<Parameter>(), Held: new List<Tensor>()) : rest;
            set.Params.AddRange(_groups[i].Parameters.Where(p => p.grad is not null));
            set.Held.AddRange(Optimizer.HeldGradients(i));
            if (_groups[i].ClipSeparately) sets.Add(set);
        }
        sets.Add(rest);
        double total = 0;
        foreach (var (ps, held) in sets.Where(s => s.Params.Count + s.Held.Count > 0))
        {
            double norm = held.Count > 0 ? ClipTensors(ps.Select(p => p.grad!).Concat(held).ToList(), _loop.GradClip)
                : _loop.GradClip > 0
                ? torch.nn.utils.clip_grad_norm_(ps, _loop.GradClip)
                : torch.linalg.vector_norm(torch.stack(ps.Select(p => torch.linalg.vector_norm(p.grad!)).ToArray())).to(ScalarType.Float64).item<double>();
            total += norm * norm;
        }
        return Math.Sqrt(total);
    }

    /// <summary>
    /// <c>clip_grad_norm_</c> over plain gradient tensors: the total 2-norm, and when <paramref name="maxNorm"/> &gt; 0 every
    /// tensor scaled by max_norm / (norm + 1e-6) if that is below 1; returns the pre-clip norm.
    /// </summary>
    static double ClipTensors(IReadOnlyList<Tensor> grads, double maxNorm)
    {
        double norm = torch.linalg.vector_norm(torch.stack(grads.Select(g => torch.linalg.vector_norm(g).to(ScalarType.Float64)).ToArray()))
            .item<double>();
        double coef = maxNorm / (norm + 1e-6);
        if (maxNorm > 0 && coef < 1)
            using (torch.no_grad()) foreach (var g in grads) g.mul_(coef);
        return norm;
    }
}

/// <summary>
/// Divergence that stays finite (docs/reliability.md, "Divergence"). Two rules, each with its reference taken when
/// training starts in this process:
/// <list type="bullet">
/// <item><b>Loss</b>: from the second step on, a loss above <see cref="LossFactor"/> × the first step's loss <i>and</i>
/// above 2·ln(vocab size) (twice the loss of a uniform guess, so a first loss near zero does not make the rule fire on
/// ordinary noise).</item>
/// <item><b>Value rows</b>: a memory value row updated by a step, or any row of a densely trained table when it is
/// checked, with an L2 norm above <see cref="RowNormFactor"/> × the largest row norm the table had at the start (at least
/// 1). Ordinary sparse finetuning grows the largest row 17× (lr 100) to 56× (lr 1000) over 990 facts on the tiny
/// model; lr 1e30 makes it 1e28 while the loss only rises to ln(vocab), where the loss rule cannot see it.</item>
/// </list>
/// </summary>
public sealed class DivergenceGuard
{
    /// <summary>State-dict name of the memory value table.</summary>
    public const string ValueTable = "memory_values.weight";
    /// <summary>How far above the first step's loss a loss may go.</summary>
    public const double LossFactor = 10;
    /// <summary>How far above the largest starting row norm an updated value row may grow.</summary>
    public const double RowNormFactor = 1000;

    /// <summary>Reads the references from <paramref name="model"/>: ln(vocab size) and the largest value row norm (when it has a memory layer).</summary>
    public DivergenceGuard(LanguageModel model)
    {
        LossFloor = 2 * Math.Log(model.Config.VocabSize);
        if (model.MemoryValues is { } table)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            StartRowNorm = MaxRowNorm(table);
        }
    }

    /// <summary>
    /// The largest |element| of <paramref name="rows"/>, in one float32 pass: NaN when any element is NaN, infinity when
    /// one is infinite (both propagate through abs and amax), 0 for no rows.
    /// </summary>
    public static double MaxAbs(Tensor rows) => rows.numel() == 0 ? 0 : rows.abs().amax().item<float>();

    /// <summary>
    /// The problem when a row of <paramref name="rows"/> [n, Dv] (finite) has a norm beyond the bound, else null. A row's
    /// norm is at most √Dv · its largest |element|, so the float64 norms (<see cref="MaxRowNorm"/>, a full copy of the
    /// rows) are computed only when that cheap bound is crossed: the common step costs one float32 pass over the rows.
    /// </summary>
    public string? CheckRows(Tensor rows)
    {
        if (!Enabled || rows.numel() == 0) return null;
        if (MaxAbs(rows) * Math.Sqrt(rows.shape[1]) <= RowNormBound) return null;
        return CheckRowNorm(MaxRowNorm(rows));
    }

    /// <summary>The largest L2 norm of a row of <paramref name="rows"/> [n, Dv], computed in float64 (a float32 sum of squares overflows from norms near 1e19).</summary>
    public static double MaxRowNorm(Tensor rows)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        return rows.shape[0] == 0 ? 0 : torch.linalg.vector_norm(rows.to(ScalarType.Float64), dims: [1]).max().item<double>();
    }

    /// <summary>
    /// Whether the two finite rules apply (NaN and ±infinity are always checked). Off only where steps are timed rather
    /// than trained for a result: <c>smf bench</c> steps an untrained model on random tokens, where the default sparse lr
    /// grows a row 1,000× in two steps.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The loss of the first step checked, once there was one.</summary>
    public double? FirstLoss { get; private set; }

    /// <summary>2·ln(vocab size): a loss below this is never called divergence.</summary>
    public double LossFloor { get; }

    /// <summary>The largest value row norm when training started (NaN without a memory layer).</summary>
    public double StartRowNorm { get; } = double.NaN;

    /// <summary>The bound on a value row's norm.</summary>
    public double RowNormBound => RowNormFactor * Math.Max(1, double.IsFinite(StartRowNorm) ? StartRowNorm : 1);

    /// <summary>Records the first loss; for a later one, the problem when it is too far above the first, else null.</summary>
    public string? CheckLoss(double loss)
    {
        if (FirstLoss is not { } first) { FirstLoss = loss; return null; }
        if (!Enabled) return null;
        if (loss > LossFactor * first && loss > LossFloor)
            return FormattableString.Invariant($"the loss is {loss:G4}, more than {LossFactor:G}× the first step's {first:G4} and above 2·ln(vocab size) = {LossFloor:G4}");
        return null;
    }

    /// <summary>The problem when a value row norm of <paramref name="max"/> is beyond the bound, else null.</summary>
    public string? CheckRowNorm(double max) =>
        Enabled && max > RowNormBound
            ? FormattableString.Invariant($"a memory value row has norm {max:G4}, more than {RowNormFactor:G}× the largest row norm at the start ({StartRowNorm:G4})")
            : null;
}
