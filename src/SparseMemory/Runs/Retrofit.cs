using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Finetuning;
using SparseMemory.Model;
using SparseMemory.Reporting;
using SparseMemory.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Runs;

/// <summary>Summary of a finished retrofit (also <c>summary.json</c>).</summary>
/// <remarks>The losses are null when nothing was healed.</remarks>
/// <param name="ReadGain">The read gain before and after the rebalance that ends healing (null when none ran).</param>
public sealed record RetrofitSummary(string BackboneSha256, int HealSteps, double? InitialEvalLoss, double? FinalEvalLoss, long MemoryParameters,
    long Slots, int BackgroundBatches, double Seconds, ReadGainChange? ReadGain = null);

/// <summary>
/// The rebalance that ends healing (docs/own-model.md#read-gain): the mean read gain measured on the held-out healing
/// batches, the value-table scale applied (W2 divided by it), and the gain measured again afterwards.
/// </summary>
public sealed record ReadGainChange(double Healed, double Scale, double Rebalanced, double Target);

/// <summary>
/// <c>smf retrofit</c>: adds product-key memory layers (Memory+, as the native model's) beside the FFN of chosen
/// blocks of a dense model (<see cref="MemoryConfig.Parallel"/>), with the memory's output projection set to zero so
/// the model computes exactly what the backbone did; heals the memory on background text with every backbone weight
/// frozen (AdamW, the value table updated lazily as in pretraining); then records background statistics so
/// <c>smf finetune --method sparse</c> runs on it. The run folder records the backbone's origin (path and SHA-256 of
/// its weights) in its config. Re-running resumes healing, or says the run is complete.
/// </summary>
public static class Retrofit
{
    /// <summary>Whether a state-dict name belongs to an inserted memory (trained while healing).</summary>
    public static bool IsMemoryParameter(string name) => name == "memory_values.weight" || name.Contains(".memory.", StringComparison.Ordinal);

    /// <summary>
    /// The config to freeze: the backbone's path and fingerprint and the retrofitted architecture filled in, everything
    /// checked. Fails before any folder exists.
    /// </summary>
    public static RetrofitConfig Resolve(RetrofitConfig requested, string backboneDir)
    {
        var errors = requested.Validate().ToList();
        if (errors.Count > 0) throw new ConfigException("invalid retrofit config:\n  " + string.Join("\n  ", errors));
        if (requested.Model is not null) throw new ConfigException("model: filled in from the backbone and retrofit.*; leave it unset");
        if (!Directory.Exists(backboneDir)) throw new DirectoryNotFoundException($"{backboneDir}: backbone folder not found (--model)");
        var (backbone, _) = Checkpoint.ReadModelConfig(backboneDir);
        if (backbone.Memory is not null)
            throw new ConfigException($"{Path.Combine(backboneDir, Checkpoint.ConfigFile)}: model.memory is set; the backbone already has memory layers (retrofit a dense model, e.g. one from smf import)");
        var model = backbone with { Memory = requested.Retrofit.ToMemory() };
        var problems = new List<string>();
        model.Validate(problems, "model");
        if (requested.Heal.SeqLen > model.MaxSeqLen) problems.Add($"heal.seq_len ({requested.Heal.SeqLen}) exceeds model.max_seq_len ({model.MaxSeqLen})");
        if (problems.Count > 0)
            throw new ConfigException("invalid retrofit config:\n  " + string.Join("\n  ", problems.Select(p => p.Replace("model.memory.", "retrofit.").Replace("num_keys", "slots"))));
        return requested with { Backbone = Path.GetFullPath(backboneDir), BackboneSha256 = Checkpoint.Fingerprint(backboneDir), Model = model };
    }

    /// <summary>
    /// The backbone's weights in the retrofitted model (seeded memory init, output projections zero): the model right
    /// after insertion.
    /// </summary>
    public static LanguageModel Insert(RetrofitConfig cfg)
    {
        var backbone = Checkpoint.Load(cfg.Backbone);
        try
        {
            torch.manual_seed(cfg.Seed);
            var model = new LanguageModel(cfg.Model!);
            var state = model.state_dict();
            using var _ = torch.no_grad();
            foreach (var (name, t) in backbone.Model.state_dict())
            {
                if (!state.TryGetValue(name, out var dst)) throw new InvalidOperationException($"retrofit: backbone tensor {name} has no place in the retrofitted model");
                dst.copy_(t);
            }
            foreach (var (name, t) in state)
                if (name.Contains(".memory.out_proj.", StringComparison.Ordinal)) t.zero_();
            return model;
        }
        finally { backbone.Model.Dispose(); (backbone.Tokenizer as IDisposable)?.Dispose(); }
    }

    /// <summary>Runs (or resumes) the retrofit of <see cref="RetrofitConfig.Backbone"/> into <paramref name="outDir"/>.</summary>
    public static RetrofitSummary Run(RetrofitConfig resolved, string outDir, ITrainingObserver observer)
    {
        var started = DateTime.UtcNow;
        var docs = File.Exists(Path.Combine(outDir, Checkpoint.ConfigFile)) ? null : ReadText(resolved, observer);
        var (cfg, done) = RunFolder.Open<RetrofitConfig, RetrofitSummary>(resolved, outDir, observer.OnMessage);
        if (done is not null) return done;
        Runtime.Configure(cfg.Seed, cfg.Threads);
        var device = Runtime.Device(cfg.Device);
        var m = cfg.Model!;
        Checkpoint.CopyTokenizer(cfg.Backbone, outDir);
        var tokenizer = Checkpoint.LoadTokenizer(outDir, m);
        using var model = Insert(cfg);
        model.to(device);
        long memoryParams = model.named_parameters().Where(p => IsMemoryParameter(p.name)).Sum(p => p.parameter.numel());
        observer.OnMessage($"memory: {m.Memory!.Slots:N0} slots in blocks {string.Join(",", m.Memory.Layers)} beside the FFN, {memoryParams:N0} parameters to heal; backbone {cfg.BackboneSha256[..12]}… frozen");

        double first = double.NaN, last = double.NaN;
        ReadGainChange? gain = null;
        var train = cfg.Heal.ToTrain();
        if (cfg.Heal.Steps == 0)
        {
            observer.OnMessage("heal.steps = 0: writing the model as inserted (its logits equal the backbone's)");
            if (!File.Exists(Path.Combine(outDir, Checkpoint.ModelFile)))
                Checkpoint.SaveWeights(outDir, model, new Dictionary<string, string> { ["step"] = "0" });
        }
        else
        {
            docs ??= ReadText(cfg, observer);
            var data = new PretrainData(docs, tokenizer, cfg.Data, train, cfg.Seed);
            observer.OnMessage($"healing on {data.TrainTokens:N0} tokens of background text ({train.Steps} steps of {train.BatchSize} × {train.SeqLen})");
            using var method = new FullTraining(train.Lr, 0.0, train.ValueLr, 0.0, LrSchedule.WarmupCosine, trainable: IsMemoryParameter);
            var trainer = new Trainer(model, method, data, LoopSettings.From(train), device, observer)
            {
                Evaluate = step =>
                {
                    double l = Pretraining.HeldoutLoss(model, data, train.EvalBatches, device);
                    if (step == 0) first = l;
                    last = l;
                    return new Dictionary<string, double> { ["eval_loss"] = l };
                },
            };
            var state = trainer.Run(outDir);
            if (cfg.Heal.ReadGain > 0) gain = Calibrate(model, data, train.EvalBatches, cfg.Heal.ReadGain, device, outDir, state.Step, observer);
        }
        (tokenizer as IDisposable)?.Dispose();

        string bgPath = Path.Combine(outDir, BackgroundStatsBuilder.FileName);
        if (cfg.Background.Batches > 0 && !File.Exists(bgPath))
        {
            var b = cfg.Background;
            var stats = BackgroundStatsBuilder.Build(outDir, b.Batches, b.BatchSize, b.SeqLen, cfg.Seed,
                (i, n) => { if (i == n || i % Math.Max(1, n / 10) == 0) observer.OnMessage($"background batch {i}/{n}"); });
            stats.Save(bgPath);
        }
        if (cfg.Heal.Steps > 0 && double.IsNaN(first)) first = FirstEvalLoss(outDir) ?? double.NaN;
        var summary = new RetrofitSummary(cfg.BackboneSha256, cfg.Heal.Steps, Finite(first), Finite(last), memoryParams, m.Memory.Slots, cfg.Background.Batches,
            (DateTime.UtcNow - started).TotalSeconds, gain);
        RunFolder.WriteSummary(outDir, summary);
        return summary;
    }

    static double? Finite(double x) => double.IsFinite(x) ? x : null;

    /// <summary>
    /// Brings the healed memory's mean read gain to <paramref name="target"/> without changing its function
    /// (<see cref="ReadGain.Rebalance"/>), measured on the held-out healing batches, and writes the weights (atomically).
    /// Idempotent: a resumed run finds the target reached and writes nothing (the background statistics name the weights'
    /// fingerprint, so the weights must not be rewritten after them).
    /// </summary>
    static ReadGainChange Calibrate(LanguageModel model, PretrainData data, int batches, double target, Device device, string outDir, long step, ITrainingObserver observer)
    {
        IEnumerable<Tensor> Batches() => Enumerable.Range(0, batches).Select(i => data.Heldout(i).Inputs.to(device));
        double healed;
        using (torch.NewDisposeScope()) healed = ReadGain.Mean(ReadGain.Measure(model, Batches()));
        if (!(healed > 0))
            throw new InvalidOperationException($"retrofit: the healed memory's read gain is {healed} (its output projection is zero?); set heal.read_gain=0 to keep the healed scale");
        if (Math.Abs(healed / target - 1) < 1e-3)
        {
            observer.OnMessage($"read gain {healed:G4}: at the target already, weights unchanged");   // a resumed run; the background statistics stay valid
            return new ReadGainChange(healed, 1, healed, target);
        }
        double scale = ReadGain.ScaleFor(healed, target);
        ReadGain.Rebalance(model, scale);
        double after;
        using (torch.NewDisposeScope()) after = ReadGain.Mean(ReadGain.Measure(model, Batches()));
        Checkpoint.SaveWeights(outDir, model, new Dictionary<string, string> { ["step"] = step.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        observer.OnMessage($"read gain {healed:G4} → {after:G4} (target {target:G4}): values × {scale:G4}, output projections ÷ {scale:G4}, function unchanged");
        return new ReadGainChange(healed, scale, after, target);
    }

    /// <summary>The step-0 held-out loss of an earlier (resumed) session of the run, from <c>metrics.jsonl</c>.</summary>
    static double? FirstEvalLoss(string runDir)
    {
        string p = Path.Combine(runDir, Checkpoint.MetricsFile);
        return File.Exists(p) ? ResultFiles.ReadMetrics(p).First("eval_loss")?.Value : null;
    }

    static IReadOnlyList<string> ReadText(RetrofitConfig cfg, ITrainingObserver observer)
    {
        if (cfg.Heal.Steps == 0) return [];
        observer.OnMessage("reading background text …");
        return CorpusLoader.Load(cfg.Data, cfg.Seed);
    }
}
