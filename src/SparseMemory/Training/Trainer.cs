using SparseMemory.Data;
using System.Diagnostics;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Memory;
using SparseMemory.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>Loop cadence and optimizer constants shared by every training method.</summary>
/// <param name="Steps">Total optimizer steps.</param>
/// <param name="WarmupSteps">Warmup of <see cref="LrSchedule.WarmupCosine"/> groups.</param>
/// <param name="MinLrRatio">Cosine floor.</param>
/// <param name="GradClip">Gradient-norm clip (0 = off).</param>
/// <param name="LogEvery">Metrics row cadence.</param>
/// <param name="EvalEvery">Evaluation cadence (also at step 0 and the end).</param>
/// <param name="CheckpointEvery">Checkpoint cadence (also at the end).</param>
/// <param name="Beta1">AdamW β1.</param>
/// <param name="Beta2">AdamW β2.</param>
/// <param name="Eps">AdamW ε.</param>
public sealed record LoopSettings(int Steps, int WarmupSteps, double MinLrRatio, double GradClip, int LogEvery, int EvalEvery,
    int CheckpointEvery, double Beta1 = 0.9, double Beta2 = 0.95, double Eps = 1e-8)
{
    /// <summary>Loop settings of a pretraining config.</summary>
    public static LoopSettings From(TrainConfig t) =>
        new(t.Steps, t.WarmupSteps, t.MinLrRatio, t.GradClip, t.LogEvery, t.EvalEvery, t.CheckpointEvery, t.Beta1, t.Beta2, t.Eps);
}

/// <summary>
/// The one training loop. Per step: dispose scope → lr schedule → forward (recording memory reads if the method wants
/// them) → backward → <see cref="ITrainingMethod.AfterBackward"/> → clip → optimizer step → zero grads → metrics /
/// evaluation / checkpoint by cadence. It appends to <c>metrics.jsonl</c> and hands each checkpoint
/// (<c>model.safetensors</c>, <c>optimizer.bin</c>, <c>trainer_state.json</c>, …) to <see cref="TrainingCheckpoint"/>,
/// which commits it as a whole and resumes from it. It has no method-specific code and does no file I/O of its own
/// beyond the metrics rows.
/// </summary>
public sealed class Trainer
{
    /// <summary>Metrics fields that measure the machine, not the run: they differ between two runs with the same seed.</summary>
    public static readonly IReadOnlyList<string> MeasuredFields = ["tokens_per_s", "elapsed_s", "rss_mb"];

    readonly LanguageModel _model;
    readonly ITrainingMethod _method;
    readonly IBatchSource _data;
    readonly LoopSettings _loop;
    readonly Device _device;
    readonly ITrainingObserver _observer;
    readonly List<ParamGroupSpec> _groups;
    readonly IStepOptimizer _optimizer;

    /// <summary>Evaluation run at step 0, every <see cref="LoopSettings.EvalEvery"/> steps and at the end; returns flat metrics.</summary>
    public Func<int, IReadOnlyDictionary<string, double>>? Evaluate { get; init; }

    /// <summary>Prepares the method and builds the optimizer.</summary>
    public Trainer(LanguageModel model, ITrainingMethod method, IBatchSource data, LoopSettings loop, Device device, ITrainingObserver? observer = null)
    {
        _model = model;
        _method = method;
        _data = data;
        _loop = loop;
        _device = device;
        _observer = observer ?? NullObserver.Instance;
        _method.Prepare(model);
        var groups = _method.ParameterGroups(model).ToList();
        if (groups.Count == 0 || groups.All(g => g.Parameters.Count == 0))
            throw new InvalidOperationException($"method {method.Name} declared no trainable parameters");
        _optimizer = method.CreateOptimizer(groups, loop) ?? new TorchStepOptimizer(groups, loop);
        _groups = _optimizer.Groups.ToList();
    }

    /// <summary>The optimizer groups in use.</summary>
    public IReadOnlyList<ParamGroupSpec> Groups => _groups;

    /// <summary>
    /// Runs (or resumes) training in <paramref name="runDir"/>: an interrupted checkpoint commit is rolled forward or back
    /// and leftover temp files are removed first (<see cref="TrainingCheckpoint.Recover"/>).
    /// </summary>
    public TrainerState Run(string runDir)
    {
        Directory.CreateDirectory(runDir);
        string metricsPath = Path.Combine(runDir, Checkpoint.MetricsFile);
        var state = TryResume(runDir);
        if (state.Completed) { _observer.OnMessage($"run in {runDir} is already complete ({state.Step} steps)"); return state; }
        JsonlWriter.TruncateAfterStep(metricsPath, state.Step == 0 ? -1 : state.Step);
        using var metrics = new JsonlWriter(metricsPath);
        int startStep = state.Step;
        long tokens = state.Tokens;
        if (startStep == 0)
        {
            var row = new Dictionary<string, object?> { ["step"] = 0, ["loss"] = InitialLoss() };
            AddEval(row, 0);
            metrics.Write(row);
        }
        var clock = Stopwatch.StartNew();
        long tokensThisRun = 0;
        var log = _method.NeedsAccessLog ? new MemoryAccessLog() : null;
        for (int step = startStep; step < _loop.Steps; step++)
        {
            var row = new Dictionary<string, object?>();
            double loss;
            using (var scope = torch.NewDisposeScope())
            {
                _model.train();
                SetLearningRates(step);
                var batch = ToDevice(_data.Get(step));
                log?.Clear();
                var lossT = _model.ForwardLoss(batch.Inputs, batch.Targets, log, batch.ValidMask);
                lossT.backward();
                var extra = new Dictionary<string, double>();
                _method.AfterBackward(new StepContext(step, _model, batch, log, extra));
                double gradNorm = Clip();
                loss = lossT.item<float>();
                CheckStep(step + 1, loss, gradNorm, extra);           // before the update: nothing of a diverged step is applied or written
                _optimizer.Step();
                _optimizer.ZeroGrad();
                long n = batch.ValidMask is null ? batch.Inputs.numel() : batch.ValidMask.sum().item<long>();   // padding is not a token
                tokens += n; tokensThisRun += n;
                row["grad_norm"] = gradNorm;
                foreach (var (k, v) in extra) row[k] = v;            // a method with its own gradients (sparse rows) reports their norm
                log?.Clear();
            }
            int done = step + 1;
            double tps = tokensThisRun / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            var eta = TimeSpan.FromSeconds(clock.Elapsed.TotalSeconds / (done - startStep) * (_loop.Steps - done));
            _observer.OnStep(new StepReport(done, _loop.Steps, loss, tps, clock.Elapsed, eta));
            bool last = done == _loop.Steps;
            bool evalNow = Evaluate is not null && (done % _loop.EvalEvery == 0 || last);
            bool checkpointNow = done % _loop.CheckpointEvery == 0 || last;
            if (evalNow || checkpointNow) CheckWeights(done);          // nothing evaluated or saved from non-finite weights
            if (done % _loop.LogEvery == 0 || evalNow || last)
            {
                var full = new Dictionary<string, object?>
                {
                    ["step"] = done, ["loss"] = loss, ["lr"] = _groups[0].Lr * LrFactor(_groups[0].Schedule, step),
                    ["tokens"] = tokens, ["tokens_per_s"] = tps, ["elapsed_s"] = clock.Elapsed.TotalSeconds,
                };
                if (ProcessMemory.RssMiB() is { } rss) full["rss_mb"] = Math.Round(rss, 1);   // resident memory of the process (Linux)
                foreach (var (k, v) in row) full[k] = v;
                if (evalNow) AddEval(full, done);
                metrics.Write(full);
            }
            if (checkpointNow)
            {
                state = new TrainerState { Step = done, TotalSteps = _loop.Steps, Method = _method.Name, Completed = last, Tokens = tokens };
                TrainingCheckpoint.Save(runDir, new TrainingSnapshot(state, _method.ExportWeights(_model), _method.TrainableState(_model), _optimizer.Save), metrics);
                _observer.OnMessage($"checkpoint at step {done} → {runDir}");
            }
        }
        return state;
    }

    /// <summary>
    /// The per-step divergence check, on scalars the step computes anyway (free): the loss, the autograd gradient norm
    /// and a method's own gradient norm (<c>grad_norm</c> in its extra metrics, e.g. the sparse rows'). A non-finite
    /// value throws <see cref="NonFiniteException"/> before the optimizer step and before the step's metrics row.
    /// </summary>
    /// <remarks>
    /// Weights are checked only when something is about to read them for output (<see cref="CheckWeights"/>, at the
    /// evaluation and checkpoint cadence), not every step: a full pass over the trainable tensors every step would cost
    /// about as much as the update of full finetuning. Nothing is lost by waiting: finite loss and gradients with
    /// non-finite weights cannot last past the next step (its loss is computed from those weights and is then non-finite),
    /// and no non-finite weight reaches a checkpoint, an evaluation or a metrics row.
    /// </remarks>
    void CheckStep(int step, double loss, double gradNorm, IReadOnlyDictionary<string, double> extra)
    {
        if (!double.IsFinite(loss)) throw new NonFiniteException(step, "loss", loss, BaseLr);
        if (!double.IsFinite(gradNorm)) throw new NonFiniteException(step, "gradient norm", gradNorm, BaseLr);
        if (extra.TryGetValue("grad_norm", out double g) && !double.IsFinite(g)) throw new NonFiniteException(step, "gradient norm", g, BaseLr);
    }

    /// <summary>Throws <see cref="NonFiniteException"/> when a trainable tensor holds NaN or ±infinity after step <paramref name="step"/>'s update.</summary>
    void CheckWeights(int step)
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
    }

    /// <summary>The largest configured learning rate of the groups (the one to lower first).</summary>
    double BaseLr => _groups.Max(g => g.Lr);

    string? NameOf(Tensor p)
    {
        foreach (var (name, q) in _model.named_parameters())
            if (q.Handle == p.Handle) return name;
        return null;
    }

    double InitialLoss()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        _model.eval();
        var b = ToDevice(_data.Get(0));
        return _model.ForwardLoss(b.Inputs, b.Targets, null, b.ValidMask).item<float>();
    }

    void AddEval(Dictionary<string, object?> row, int step)
    {
        if (Evaluate is null) return;
        _model.eval();
        var m = Evaluate(step);
        foreach (var (k, v) in m) row[k] = v;
        _observer.OnEval(step, m);
    }

    TrainingBatch ToDevice(TrainingBatch b) =>
        new(b.Inputs.to(_device), b.Targets.to(_device), b.ValidMask?.to(_device));

    double LrFactor(LrSchedule s, int step) => LrScheduleMath.Factor(s, step, _loop.Steps, _loop.WarmupSteps, _loop.MinLrRatio);

    void SetLearningRates(int step)
    {
        for (int i = 0; i < _groups.Count; i++)
            _optimizer.SetLearningRate(i, _groups[i].Lr * LrFactor(_groups[i].Schedule, step));
    }

    /// <summary>
    /// Clips separately-clipped groups on their own and the rest together; returns the pre-clip total norm. Gradients an
    /// optimizer holds outside autograd (<see cref="IStepOptimizer.HeldGradients"/>: the touched rows of a lazily updated
    /// value table) belong to their group's set; a set without any is clipped by <c>clip_grad_norm_</c> exactly as before.
    /// </summary>
    double Clip()
    {
        var sets = new List<(List<Parameter> Params, List<Tensor> Held)>();
        var rest = (Params: new List<Parameter>(), Held: new List<Tensor>());
        for (int i = 0; i < _groups.Count; i++)
        {
            var set = _groups[i].ClipSeparately ? (Params: new List<Parameter>(), Held: new List<Tensor>()) : rest;
            set.Params.AddRange(_groups[i].Parameters.Where(p => p.grad is not null));
            set.Held.AddRange(_optimizer.HeldGradients(i));
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

    TrainerState TryResume(string dir)
    {
        var restore = new TrainingRestore(_method.Name, _model.state_dict().Select(kv => (kv.Key, kv.Value)).ToList(),
            _method.TrainableState(_model), _optimizer.Load);
        var (state, recovery) = TrainingCheckpoint.Resume(dir, restore, _loop.Steps);
        if (!recovery.Clean) _observer.OnMessage($"{dir}: {recovery}");
        if (state is null) return new TrainerState { TotalSteps = _loop.Steps, Method = _method.Name };
        if (state.Completed && state.Step >= _loop.Steps) return state;
        _observer.OnMessage($"resuming {dir} from step {state.Step} of {_loop.Steps}");
        return state with { Completed = false, TotalSteps = _loop.Steps };
    }
}
