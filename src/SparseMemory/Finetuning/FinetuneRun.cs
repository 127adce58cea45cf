using System.Text.Json;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Model;
using SparseMemory.Training;

namespace SparseMemory.Finetuning;

/// <summary>Summary of a finished finetuning run (also <c>summary.json</c>).</summary>
public sealed record FinetuneSummary(string Method, int Steps, int Facts, double FirstLoss, double LastLoss, double Seconds,
    IReadOnlyDictionary<string, double> Probes);

/// <summary>
/// <c>smf finetune</c>: loads a base checkpoint, builds the chosen method, and trains on the fact stream with the
/// one <see cref="Trainer"/>, into a run folder that is itself a checkpoint (same layout as pretraining). Re-running
/// resumes mid-stream: batches are a function of the step, so no item is skipped or repeated.
/// </summary>
public static class FinetuneRun
{
    /// <summary>File in the run folder listing the facts the stream trains on (the target-f1 probe reads it).</summary>
    public const string StreamFactsFile = "stream_facts.jsonl";

    /// <summary>Builds a method from the config (used by the CLI, experiments and tests alike).</summary>
    public static ITrainingMethod CreateMethod(FinetuneConfig cfg, string baseDir) => CreateMethod(cfg, LoadBackground(cfg, baseDir));

    /// <summary>The background statistics the config's ranker needs (null when it needs none), checked against the checkpoint.</summary>
    public static BackgroundStats? LoadBackground(FinetuneConfig cfg, string baseDir)
    {
        if (cfg.Method is not (FinetuneMethodKind.Sparse or FinetuneMethodKind.MemoryAll) || !SlotRankerFactory.RequiresBackground(Ranker(cfg))) return null;
        string path = cfg.Sparse.Background ?? Path.Combine(baseDir, BackgroundStatsBuilder.FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: background statistics not found; run `smf background --model {baseDir}` first (or pass --background FILE)", path);
        return LoadBackgroundFile(path, baseDir);
    }

    /// <summary>Background statistics from <paramref name="path"/>, refused unless computed for the checkpoint in <paramref name="baseDir"/>.</summary>
    public static BackgroundStats LoadBackgroundFile(string path, string baseDir)
    {
        var bg = BackgroundStats.Load(path);
        try { bg.EnsureMatches(Checkpoint.Fingerprint(baseDir), path); }
        catch (InvalidOperationException e) { throw new InvalidDataException(e.Message); }
        return bg;
    }

    /// <summary>The training method of a finetune config, with already loaded background statistics.</summary>
    public static ITrainingMethod CreateMethod(FinetuneConfig cfg, BackgroundStats? background)
    {
        double lr = cfg.EffectiveLr;
        switch (cfg.Method)
        {
            case FinetuneMethodKind.Full:
                return new FullTraining(lr, cfg.FullWeightDecay, lr, cfg.FullWeightDecay, LrSchedule.Constant);
            case FinetuneMethodKind.Lora:
                var targets = (cfg.Lora.Attention ? LoraTargets.Attention : 0) | (cfg.Lora.FeedForward ? LoraTargets.FeedForward : 0);
                return new LoraMethod(cfg.Lora.Rank, cfg.Lora.Alpha, targets, lr, cfg.Lora.WeightDecay);
            default:
                return new SparseMemoryMethod(new SparseMemoryOptions(cfg.Sparse.TopT, Ranker(cfg), cfg.Sparse.Optimizer, lr,
                    cfg.Sparse.WeightDecay, cfg.Sparse.ExcludeZeroIdf, cfg.Seed), background);
        }
    }

    static SlotRankerKind Ranker(FinetuneConfig cfg) => cfg.Method == FinetuneMethodKind.MemoryAll ? SlotRankerKind.AllAccessed : cfg.Sparse.Ranker;

    /// <summary>
    /// Loop settings of a finetuning run: constant lr, no warmup; the dense baselines (full, LoRA) clip the gradient norm
    /// at 1, the sparse methods do not (their update is already confined to t rows); AdamW β = (0.9, 0.999).
    /// </summary>
    public static LoopSettings Loop(FinetuneConfig cfg, int steps) =>
        new(steps, 0, 1.0, cfg.Method is FinetuneMethodKind.Full or FinetuneMethodKind.Lora ? 1.0 : 0.0,
            cfg.LogEvery, cfg.EvalEvery > 0 ? cfg.EvalEvery : steps, cfg.CheckpointEvery, 0.9, 0.999, 1e-8);

    /// <summary>Runs (or resumes) finetuning into <paramref name="outDir"/>.</summary>
    public static FinetuneSummary Run(FinetuneConfig requested, string outDir, ITrainingObserver observer)
    {
        string baseDir = requested.BaseModel;
        var baseCfg = Checkpoint.ReadModelConfig(baseDir).Model;
        if (requested.Model is not null && ConfigLoader.ToJson(requested.Model) != ConfigLoader.ToJson(baseCfg))
            throw new ConfigException($"model: the config's model section differs from {baseDir}/config.json; leave it unset");
        var withModel = requested with { Model = baseCfg };
        var errors = withModel.Validate();
        if (errors.Count > 0) throw new ConfigException("invalid finetune config:\n  " + string.Join("\n  ", errors));
        // Everything that can fail on bad input is checked before the run folder is created.
        var facts = FactsFile.ReadNamedOrFile(withModel.Data.Facts);
        if (withModel.Data.Shuffle)
        {
            var shuffled = facts.ToArray();
            new Random(SeedMix.Mix(withModel.Seed, 0x5f)).Shuffle(shuffled);
            facts = shuffled;
        }
        if (withModel.Data.Limit > 0) facts = facts.Take(withModel.Data.Limit).ToList();
        var method = CreateMethod(withModel, baseDir);
        var cfg = RunFolder.Prepare(withModel, outDir);
        if (RunFolder.CompletedSummary<FinetuneSummary>(outDir) is { } done)
        {
            observer.OnMessage($"run in {outDir} is already complete; pass a new --out to run again");
            return done;
        }
        Runtime.Configure(cfg.Seed, cfg.Threads);
        var device = Runtime.Device(cfg.Device);
        var started = DateTime.UtcNow;
        var loaded = Checkpoint.Load(baseDir, device);
        string tokOut = Path.Combine(outDir, Checkpoint.TokenizerFile);
        if (!File.Exists(tokOut)) File.Copy(Path.Combine(baseDir, Checkpoint.TokenizerFile), tokOut);
        var data = new FactStreamData(facts, loaded.Tokenizer, cfg.Data.Paraphrases, cfg.Data.StepsPerItem, cfg.Seed,
            cfg.Data.AllowQuestionForm, cfg.Model!.MaxSeqLen);
        int steps = cfg.Steps > 0 ? cfg.Steps : facts.Count * cfg.Data.StepsPerItem;
        observer.OnMessage($"finetuning {baseDir} with {method.Name} (lr {cfg.EffectiveLr:G4}) on {facts.Count} facts, {steps} steps");
        var loop = Loop(cfg, steps);
        var probes = new Dictionary<string, double>();
        int trainedFacts = Math.Min(facts.Count, (steps + cfg.Data.StepsPerItem - 1) / cfg.Data.StepsPerItem);
        string streamFacts = Path.Combine(outDir, StreamFactsFile);
        FactsFile.Write(streamFacts, facts.Take(trainedFacts));
        var probeList = ProbeRegistry.Resolve(cfg.Probes);
        var probeOptions = new ProbeOptions { Limit = cfg.ProbeLimit > 0 ? cfg.ProbeLimit : null, Seed = cfg.Seed, TargetFacts = streamFacts };
        TorchSharp.torch.manual_seed(cfg.Seed);
        var trainer = new Trainer(loaded.Model, method, data, loop, device, observer)
        {
            Evaluate = probeList.Count == 0 ? null : step =>
            {
                var m = new Dictionary<string, double>();
                foreach (var probe in probeList)
                {
                    var r = ProbeRegistry.Run(probe, loaded, probeOptions);
                    if (r.Skipped is not null) { observer.OnMessage($"probe {probe.Name} skipped: {r.Skipped}"); continue; }
                    m[$"{r.Probe}/{r.Metric}"] = r.Value;
                    foreach (var (k, v) in r.Extra) m[$"{r.Probe}/{k}"] = v;
                }
                foreach (var (k, v) in m) probes[k] = v;
                return m;
            },
        };
        var state = trainer.Run(outDir);
        (method as IDisposable)?.Dispose();
        var losses = File.ReadLines(Path.Combine(outDir, "metrics.jsonl"))
            .Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!["loss"]?.GetValue<double>() ?? double.NaN).ToList();
        var summary = new FinetuneSummary(method.Name, state.Step, facts.Count, losses.FirstOrDefault(double.NaN), losses.LastOrDefault(double.NaN),
            (DateTime.UtcNow - started).TotalSeconds, probes);
        RunFolder.WriteSummary(outDir, summary);
        return summary;
    }
}
