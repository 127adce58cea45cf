using SparseMemory.Finetuning;
using System.Text.Json;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Model;
using SparseMemory.Training;

namespace SparseMemory.Runs;

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

    /// <summary>Every problem of a finetune config at once: structure, method (via its registry entry) and probes.</summary>
    public static List<string> Validate(FinetuneConfig cfg)
    {
        var e = FinetuneMethods.Validate(cfg);
        foreach (string p in cfg.Probes.Where(p => ProbeRegistry.Find(p) is null))
            e.Add($"probes: unknown probe '{p}'; known: {string.Join(", ", ProbeRegistry.Names)}");
        return e;
    }

    /// <summary>Runs (or resumes) finetuning into <paramref name="outDir"/>.</summary>
    public static FinetuneSummary Run(FinetuneConfig requested, string outDir, ITrainingObserver observer)
    {
        string baseDir = requested.BaseModel;
        var baseCfg = Checkpoint.ReadModelConfig(baseDir).Model;
        if (requested.Model is not null && ConfigLoader.ToJson(requested.Model) != ConfigLoader.ToJson(baseCfg))
            throw new ConfigException($"model: the config's model section differs from {baseDir}/config.json; leave it unset");
        var withModel = FinetuneMethods.Canonical(requested with { Model = baseCfg });
        var errors = Validate(withModel);
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
        var method = FinetuneMethods.Create(withModel, baseDir);
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
        if (!File.Exists(tokOut)) AtomicFile.Copy(Path.Combine(baseDir, Checkpoint.TokenizerFile), tokOut);
        var data = new FactStreamData(facts, loaded.Tokenizer, cfg.Data.Paraphrases, cfg.Data.StepsPerItem, cfg.Seed,
            cfg.Data.AllowQuestionForm, cfg.Model!.MaxSeqLen);
        int steps = cfg.Steps > 0 ? cfg.Steps : facts.Count * cfg.Data.StepsPerItem;
        observer.OnMessage($"finetuning {baseDir} with {method.Name} (lr {FinetuneMethods.EffectiveLr(cfg):G4}) on {facts.Count} facts, {steps} steps");
        var loop = FinetuneMethods.Loop(cfg, steps);
        var probes = new Dictionary<string, double>();
        int trainedFacts = Math.Min(facts.Count, (steps + cfg.Data.StepsPerItem - 1) / cfg.Data.StepsPerItem);
        string streamFacts = Path.Combine(outDir, StreamFactsFile);
        DataFiles.WriteFacts(streamFacts, facts.Take(trainedFacts));
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
        var losses = File.ReadLines(Path.Combine(outDir, Checkpoint.MetricsFile))
            .Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!["loss"]?.GetValue<double>() ?? double.NaN).ToList();
        var summary = new FinetuneSummary(method.Name, state.Step, facts.Count, losses.FirstOrDefault(double.NaN), losses.LastOrDefault(double.NaN),
            (DateTime.UtcNow - started).TotalSeconds, probes);
        RunFolder.WriteSummary(outDir, summary);
        return summary;
    }
}
