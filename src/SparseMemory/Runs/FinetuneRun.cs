using SparseMemory.Finetuning;
using System.Text.Json;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Model;
using SparseMemory.Reporting;
using SparseMemory.Training;

namespace SparseMemory.Runs;

/// <summary>One paraphrase of a previewed batch: its text, the tokens the model reads (with the end-of-text tokens around it) and the padding after it.</summary>
public sealed record BatchRow(string Text, IReadOnlyList<string> Tokens, int PadTokens, LineKind Kind = LineKind.Statement, string Origin = "");

/// <summary>One step of <see cref="FinetuneRun.Preview"/>: the fact taught and its batch.</summary>
public sealed record BatchPreview(int Step, string FactId, string Question, string Answer, int PaddedLength, IReadOnlyList<BatchRow> Rows);

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
        e.AddRange(EvalProbes.Registry.Problems(cfg.Probes, "probes"));
        return e;
    }

    /// <summary>
    /// Builds the finetune config of a run on <paramref name="baseModel"/>: defaults → the base model's recipe for the
    /// chosen method (docs/method.md#recipe) → <paramref name="file"/> → <paramref name="overrides"/> (the flags as
    /// <c>key=value</c>, then <c>--set</c>). Not validated here: <see cref="Resolve"/> checks everything once the model
    /// section is known.
    /// </summary>
    public static FinetuneConfig LoadConfig(string baseModel, string? file, IReadOnlyList<string> overrides)
    {
        foreach (string set in overrides)
            if (set.StartsWith("model.", StringComparison.Ordinal) || set.StartsWith("model=", StringComparison.Ordinal))
                throw new ConfigException($"--set {set.Split('=')[0]}: {ModelFromBase(baseModel)}");
        var layers = new List<ConfigLayer>();
        if (file is not null) layers.Add(ConfigLoader.FileLayer(file));
        layers.Add(ConfigLayer.Of(ConfigLoader.Set("base_model", baseModel)));
        layers.AddRange(overrides.Select(ConfigLayer.Of));
        string method = ConfigLoader.Load<FinetuneConfig>(null, null, layers).Method;    // the recipe depends on the method chosen
        var cfg = ConfigLoader.Load<FinetuneConfig>(null, null, FinetuneRecipe.For(baseModel, method).Select(ConfigLayer.Of).Concat(layers));
        // A t the user chose above the slot count is refused; the default and a recipe's t are clamped by the method.
        if (layers.Any(SetsTopT) && Checkpoint.ReadModelConfig(baseModel).Model.Memory?.Slots is long slots and > 0 && cfg.Sparse.TopT > slots)
            throw new ConfigException($"sparse.top_t is {cfg.Sparse.TopT} but the base model has {slots} memory slots; give sparse.top_t (--top-t) between 1 and {slots}");
        return cfg;
    }

    static bool SetsTopT(ConfigLayer layer) =>
        layer.Set is { } set ? set.StartsWith("sparse.top_t=", StringComparison.Ordinal) || set.StartsWith("sparse=", StringComparison.Ordinal)
            : layer.Overlay?["sparse"] is System.Text.Json.Nodes.JsonObject sparse && sparse.ContainsKey("top_t");

    static string ModelFromBase(string baseDir) =>
        $"the model section of a finetuning run comes from the base checkpoint ({Path.Combine(baseDir, Checkpoint.ConfigFile)}) and cannot be set; finetune another base model instead";

    /// <summary>
    /// The validated config (model section from the base checkpoint, registry names canonical) and the fact stream it
    /// trains on (shuffled and limited as configured). Everything that can fail on bad input fails here, before any
    /// folder is created.
    /// </summary>
    public static (FinetuneConfig Config, IReadOnlyList<Fact> Facts) Resolve(FinetuneConfig requested)
    {
        string baseDir = requested.BaseModel;
        if (string.IsNullOrWhiteSpace(baseDir)) throw new ConfigException("base_model must name a checkpoint folder (--model DIR)");
        var baseCfg = Checkpoint.ReadModelConfig(baseDir).Model;
        if (requested.Model is not null && ConfigLoader.ToJson(requested.Model) != ConfigLoader.ToJson(baseCfg))
            throw new ConfigException($"model: {ModelFromBase(baseDir)} (leave it unset)");
        var cfg = FinetuneMethods.Canonical(requested with { Model = baseCfg });
        var errors = Validate(cfg);
        if (errors.Count > 0) throw new ConfigException("invalid finetune config:\n  " + string.Join("\n  ", errors));
        var facts = FactsFile.ReadNamedOrFile(cfg.Data.Facts);
        if (cfg.Data.Shuffle)
        {
            var shuffled = facts.ToArray();
            new Random(SeedMix.Mix(cfg.Seed, 0x5f)).Shuffle(shuffled);
            facts = shuffled;
        }
        if (cfg.Data.Limit > 0) facts = facts.Take(cfg.Data.Limit).ToList();
        return (cfg, facts);
    }

    /// <summary>The batches of a resolved run: step s trains on the paraphrases of fact ⌊s / steps_per_item⌋.</summary>
    public static FactBatches Stream(FinetuneConfig cfg, IReadOnlyList<Fact> facts, ITokenizer tokenizer) =>
        FactBatches.Create(facts, tokenizer, cfg.Data.Paraphrases, cfg.Data.StepsPerItem, cfg.Seed, cfg.Data.AllowQuestionForm, cfg.Model!.MaxSeqLen, cfg.Data.QuestionFraction,
            Questions(cfg.Data), cfg.Data.FreshEachStep);

    /// <summary>The question source a stream config names.</summary>
    public static QuestionSource Questions(StreamConfig data) =>
        data.QuestionSource == "verbatim" ? QuestionSource.Verbatim : QuestionSource.Generated;

    /// <summary>Optimizer steps of a resolved run (0 in the config = one pass over the stream).</summary>
    public static int Steps(FinetuneConfig cfg, IReadOnlyList<Fact> facts) => cfg.Steps > 0 ? cfg.Steps : facts.Count * cfg.Data.StepsPerItem;

    /// <summary>
    /// What a run would train on, without training (<c>smf finetune --dry-run</c>): for the first
    /// <paramref name="maxSteps"/> steps, the fact, each paraphrase with its tokens, and the padding of the batch.
    /// Reads only the base checkpoint's config and tokenizer.
    /// </summary>
    public static IEnumerable<BatchPreview> Preview(FinetuneConfig requested, int maxSteps)
    {
        var (cfg, facts) = Resolve(requested);
        var tok = Checkpoint.LoadTokenizer(cfg.BaseModel, cfg.Model!);
        var data = Stream(cfg, facts, tok);
        int steps = Math.Min(maxSteps, Steps(cfg, facts));
        for (int step = 0; step < steps; step++)
        {
            var lines = data.Lines(step);
            var batch = data.Get(step);
            long length = batch.Inputs.shape[1];
            var valid = batch.ValidMask!.data<bool>().ToArray();
            var rows = new List<BatchRow>();
            for (int i = 0; i < lines.Count; i++)
            {
                var ids = batch.Inputs[i].data<long>().Select(v => (int)v).ToArray();
                int real = valid.Skip(i * (int)length).Take((int)length).Count(v => v);
                rows.Add(new BatchRow(lines[i].Text, ids[..real].Select(tok.IdToToken).ToArray(), (int)length - real, lines[i].Kind, lines[i].Origin));
            }
            var fact = data.FactAt(step);
            yield return new BatchPreview(step, fact.Id, fact.Question, fact.Object, (int)length, rows);
            batch.Inputs.Dispose(); batch.Targets.Dispose(); batch.ValidMask?.Dispose();
        }
    }

    static bool SamePath(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)),
            OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    /// <summary>Runs (or resumes) finetuning into <paramref name="outDir"/>.</summary>
    public static FinetuneSummary Run(FinetuneConfig requested, string outDir, ITrainingObserver observer)
    {
        var (withModel, facts) = Resolve(requested);
        string baseDir = withModel.BaseModel;
        if (SamePath(baseDir, outDir))
            throw new ConfigException($"--out {outDir} is the base model's folder; a finetuning run needs its own folder (pass a new --out)");
        bool streamIdf = FinetuneMethods.BackgroundFromStream(withModel);
        var method = streamIdf ? null : FinetuneMethods.Create(withModel, baseDir);
        // For a new run every input is read and checked (weights included: names, shapes, dtypes, finite values)
        // before the run folder is created, so a bad base model leaves no half-made --out behind. An existing run
        // folder is opened first, so a finished run returns its summary without loading the base model.
        Runtime.Configure(withModel.Seed, withModel.Threads);
        var device = Runtime.Device(withModel.Device);
        var started = DateTime.UtcNow;
        var loaded = File.Exists(Path.Combine(outDir, Checkpoint.ConfigFile)) ? null : Checkpoint.Load(baseDir, device);
        var (cfg, done) = RunFolder.Open<FinetuneConfig, FinetuneSummary>(withModel, outDir, observer.OnMessage);
        if (done is not null) { loaded?.Model.Dispose(); return done; }
        loaded ??= Checkpoint.Load(baseDir, device);
        Checkpoint.CopyTokenizer(baseDir, outDir);
        var data = Stream(cfg, facts, loaded.Tokenizer);
        int steps = Steps(cfg, facts);
        if (streamIdf)
        {
            // Ablation: document frequencies from the learning stream itself (one document per fact: its first batch)
            // instead of background text, so IDF down-weights slots that every fact of the stream uses.
            var bg = new BackgroundStats(loaded.Model.MemoryValues!.shape[0], Checkpoint.Fingerprint(baseDir));
            BackgroundStatsBuilder.Accumulate(bg, loaded.Model, new FirstBatchPerFact(data, cfg.Data.StepsPerItem), facts.Count);
            method = FinetuneMethods.Create(cfg, bg);
            observer.OnMessage($"background statistics from the stream itself: {facts.Count} facts");
        }
        observer.OnMessage($"finetuning {baseDir} with {method!.Name} (lr {FinetuneMethods.EffectiveLr(cfg):G4}) on {facts.Count} facts, {steps} steps");
        var loop = FinetuneMethods.Loop(cfg, steps);
        var probes = new Dictionary<string, double>();
        int trainedFacts = Math.Min(facts.Count, (steps + cfg.Data.StepsPerItem - 1) / cfg.Data.StepsPerItem);
        string streamFacts = Path.Combine(outDir, StreamFactsFile);
        DataFiles.WriteFacts(streamFacts, facts.Take(trainedFacts));
        var probeList = EvalProbes.Registry.GetAll(cfg.Probes, "probes");
        var probeOptions = new ProbeOptions { Limit = cfg.ProbeLimit > 0 ? cfg.ProbeLimit : null, Seed = cfg.Seed, TargetFacts = streamFacts };
        TorchSharp.torch.manual_seed(cfg.Seed);
        var trainer = new Trainer(loaded.Model, method, data, loop, device, observer)
        {
            Evaluate = probeList.Count == 0 ? null : step =>
            {
                var m = new Dictionary<string, double>();
                foreach (var probe in probeList)
                {
                    var r = EvalProbes.Run(probe, loaded, probeOptions);
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
        var metrics = ResultFiles.ReadMetrics(Path.Combine(outDir, Checkpoint.MetricsFile));
        var summary = new FinetuneSummary(method.Name, state.Step, facts.Count, metrics.First("loss")?.Value ?? double.NaN, metrics.Last("loss")?.Value ?? double.NaN,
            (DateTime.UtcNow - started).TotalSeconds, probes);
        RunFolder.WriteSummary(outDir, summary);
        return summary;
    }

    sealed class FirstBatchPerFact(IBatchSource stream, int stepsPerItem) : IBatchSource
    {
        public TrainingBatch Get(int step) => stream.Get(step * stepsPerItem);
    }
}
