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
/// The one training loop. Per step: dispose scope → lr schedule → <see cref="TrainStep"/> (forward, recording memory
/// reads if the method wants them → backward → <see cref="ITrainingMethod.AfterBackward"/> → clip → divergence checks →
/// optimizer step → zero grads) → metrics / evaluation / checkpoint by cadence. It appends to <c>metrics.jsonl</c> and hands each checkpoint
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
    readonly TrainStep _step;
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
        _step = new TrainStep(model, method, loop);
        _optimizer = _step.Optimizer;
        _groups = _step.Groups.ToList();
    }

    /// <summary>The optimizer groups in use.</summary>
    public IReadOnlyList<ParamGroupSpec> Groups => _groups;

    /// <summary>Whether the finite divergence rules stop the run (<see cref="DivergenceGuard"/>; NaN and ±infinity always do).</summary>
    public bool StopOnFiniteDivergence
    {
        get => _step.Guard.Enabled;
        init => _step.Guard.Enabled = value;
    }

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
        for (int step = startStep; step < _loop.Steps; step++)
        {
            var row = new Dictionary<string, object?>();
            double loss;
            using (var scope = torch.NewDisposeScope())
            {
                _step.SetLearningRates(step);
                var outcome = _step.Run(step, ToDevice(_data.Get(step)));   // throws before anything of a diverged step is written
                loss = outcome.Loss;
                tokens += outcome.Tokens; tokensThisRun += outcome.Tokens;
                row["grad_norm"] = outcome.GradNorm;
                foreach (var (k, v) in outcome.Metrics) row[k] = v;  // a method with its own gradients (sparse rows) reports their norm
            }
            int done = step + 1;
            double tps = tokensThisRun / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            var eta = TimeSpan.FromSeconds(clock.Elapsed.TotalSeconds / (done - startStep) * (_loop.Steps - done));
            _observer.OnStep(new StepReport(done, _loop.Steps, loss, tps, clock.Elapsed, eta));
            bool last = done == _loop.Steps;
            bool evalNow = Evaluate is not null && (done % _loop.EvalEvery == 0 || last);
            bool checkpointNow = done % _loop.CheckpointEvery == 0 || last;
            if (evalNow || checkpointNow) _step.CheckWeights(done);          // nothing evaluated or saved from non-finite weights
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

    double LrFactor(LrSchedule s, int step) => _step.LrFactor(s, step);

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
