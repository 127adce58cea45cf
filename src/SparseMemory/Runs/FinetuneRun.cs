using SparseMemory.Finetuning;
using System.Text.Json;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Documents;
using SparseMemory.Data.Documents.Augmentations;
using SparseMemory.Data.Facts;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Model;
using SparseMemory.Reporting;
using SparseMemory.Training;

namespace SparseMemory.Runs;

/// <summary>One paraphrase of a previewed batch: its text, the tokens the model reads (with the end-of-text tokens around it) and the padding after it.</summary>
public sealed record BatchRow(string Text, IReadOnlyList<string> Tokens, int PadTokens, LineKind Kind = LineKind.Statement, string Origin = "",
    string? Strategy = null);

/// <summary>One step of <see cref="FinetuneRun.Preview"/>: the fact (or, in the document stream, the chunk: <paramref name="Chunk"/>) taught and its batch.</summary>
public sealed record BatchPreview(int Step, string FactId, string Question, string Answer, int PaddedLength, IReadOnlyList<BatchRow> Rows,
    string? Chunk = null);

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

    /// <summary>File in a document run's folder: per step, the chunk and how many lines each strategy made (docs/documents.md#strategies).</summary>
    public const string StrategiesFile = "strategies.jsonl";

    /// <summary>Every problem of a finetune config at once: structure, method (via its registry entry) and probes.</summary>
    public static List<string> Validate(FinetuneConfig cfg)
    {
        var e = FinetuneMethods.Validate(cfg);
        e.AddRange(EvalProbes.Registry.Problems(cfg.Probes, "probes"));
        if (cfg.Data.Strategies is { } strategies) e.AddRange(Augmentations.Problems(strategies));
        return e;
    }

    /// <summary>
    /// Builds the finetune config of a run on <paramref name="baseModel"/>: defaults → the base model's recipe for the
    /// chosen method (docs/method.md#recipe) → <paramref name="file"/> → <paramref name="overrides"/> (the flags as
    /// <c>key=value</c>, then <c>--set</c>). Not validated here: <see cref="Resolve"/> checks everything once the model
    /// section is known.
    /// </summary>
    /// <summary>
    /// <see cref="LoadConfig(string, string?, IReadOnlyList{string})"/> with <c>--data</c> given as <paramref name="data"/>:
    /// it names documents (<c>data.documents</c>) when the resolved <c>data.task</c> is documents, facts otherwise.
    /// </summary>
    public static FinetuneConfig LoadConfig(string baseModel, string? file, IReadOnlyList<string> overrides, string? data)
    {
        var cfg = LoadConfig(baseModel, file, overrides);
        if (data is null) return cfg;
        return LoadConfig(baseModel, file, [ConfigLoader.Set(cfg.Data.IsDocuments() ? "data.documents" : "data.facts", data), .. overrides]);
    }

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
        if (cfg.Data.IsDocuments())
        {
            // The document stream: the facts are the questions the target probe asks; documents are read (and checked) here.
            if (cfg.Data.ChunkTokens > baseCfg.MaxSeqLen - 1)
                throw new ConfigException($"data.chunk_tokens is {cfg.Data.ChunkTokens}, but a line of the model holds at most {baseCfg.MaxSeqLen - 1} tokens (model.max_seq_len {baseCfg.MaxSeqLen} less the start token); set data.chunk_tokens ≤ {baseCfg.MaxSeqLen - 1}");
            return (cfg, DocumentSet(cfg).Questions.Select(q => q.Fact).ToList());
        }
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

    /// <summary>The documents and questions of a resolved document run.</summary>
    public static DocumentSet DocumentSet(FinetuneConfig cfg) => DocumentSources.Load(cfg.Data.Documents, cfg.Data.Questions, cfg.Data.Limit);

    /// <summary>The strategies a config names (all registered ones when it names none).</summary>
    public static IReadOnlyList<AugmentationSpec> Strategies(StreamConfig data) => Augmentations.Resolve(data.Strategies ?? [.. Augmentations.Registry.Names]);

    /// <summary>
    /// The document stream of a resolved run: its documents cut into chunks of at most data.chunk_tokens tokens, step s on
    /// chunk ⌊s / steps_per_item⌋, data.paraphrases augmented lines per batch, never a line that contains one of its questions.
    /// </summary>
    public static DocumentStream Documents(FinetuneConfig cfg, ITokenizer tokenizer)
    {
        var set = DocumentSet(cfg);
        var chunks = DocumentChunker.Split(set.Documents, tokenizer, cfg.Data.ChunkTokens);
        return new DocumentStream(chunks, tokenizer, Strategies(cfg.Data), cfg.Data.Paraphrases, cfg.Data.StepsPerItem, cfg.Seed,
            cfg.Model!.MaxSeqLen, set.Questions.Select(q => q.Fact.Question).ToList());
    }

    /// <summary>The batches of a resolved run: the fact stream (<see cref="Stream"/>) or the document stream (<see cref="Documents"/>).</summary>
    public static IBatchSource Batches(FinetuneConfig cfg, IReadOnlyList<Fact> facts, ITokenizer tokenizer) =>
        cfg.Data.IsDocuments() ? Documents(cfg, tokenizer) : Stream(cfg, facts, tokenizer);

    /// <summary>Items of a stream: chunks of the document stream, else facts.</summary>
    static int Items(IBatchSource data, IReadOnlyList<Fact> facts) => data is DocumentStream d ? d.Chunks.Count : facts.Count;

    /// <summary>Optimizer steps of a resolved run on <paramref name="data"/> (0 in the config = one pass over its facts or chunks).</summary>
    public static int Steps(FinetuneConfig cfg, IBatchSource data, IReadOnlyList<Fact> facts) =>
        cfg.Steps > 0 ? cfg.Steps : Items(data, facts) * cfg.Data.StepsPerItem;

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
        var data = Batches(cfg, facts, tok);
        int steps = Math.Min(maxSteps, Steps(cfg, data, facts));
        for (int step = 0; step < steps; step++)
        {
            var lines = data is DocumentStream docs ? docs.Lines(step) : ((FactBatches)data).Lines(step);
            var batch = data.Get(step);
            long length = batch.Inputs.shape[1];
            var valid = batch.ValidMask!.data<bool>().ToArray();
            var rows = new List<BatchRow>();
            for (int i = 0; i < lines.Count; i++)
            {
                var ids = batch.Inputs[i].data<long>().Select(v => (int)v).ToArray();
                int real = valid.Skip(i * (int)length).Take((int)length).Count(v => v);
                rows.Add(new BatchRow(lines[i].Text, ids[..real].Select(tok.IdToToken).ToArray(), (int)length - real, lines[i].Kind, lines[i].Origin, lines[i].Strategy));
            }
            if (data is DocumentStream d)
            {
                var chunk = d.ChunkAt(step);
                yield return new BatchPreview(step, chunk.Id, "", "", (int)length, rows, chunk.Text);
            }
            else
            {
                var fact = ((FactBatches)data).FactAt(step);
                yield return new BatchPreview(step, fact.Id, fact.Question, fact.Object, (int)length, rows);
            }
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
        var data = Batches(cfg, facts, loaded.Tokenizer);
        int steps = Steps(cfg, data, facts);
        int items = Items(data, facts);
        string itemName = data is DocumentStream ? "chunks" : "facts";
        if (streamIdf)
        {
            // Ablation: document frequencies from the learning stream itself (one document per fact or chunk: its first
            // batch) instead of background text, so IDF down-weights slots that every item of the stream uses.
            var bg = new BackgroundStats(loaded.Model.MemoryValues!.shape[0], Checkpoint.Fingerprint(baseDir));
            BackgroundStatsBuilder.Accumulate(bg, loaded.Model, new FirstBatchPerFact(data, cfg.Data.StepsPerItem), items);
            method = FinetuneMethods.Create(cfg, bg);
            observer.OnMessage($"background statistics from the stream itself: {items} {itemName}");
        }
        int trainedItems = Math.Min(items, (steps + cfg.Data.StepsPerItem - 1) / cfg.Data.StepsPerItem);
        IReadOnlyList<IProbe> probeList = EvalProbes.Registry.GetAll(cfg.Probes, "probes");
        IEnumerable<Fact> taught = facts.Take(trainedItems);
        if (data is DocumentStream documents)
        {
            var reached = documents.Chunks.Take(trainedItems).Select(c => c.DocumentId).ToHashSet(StringComparer.Ordinal);
            taught = DocumentSet(cfg).Questions.Where(q => q.DocumentId is null || reached.Contains(q.DocumentId)).Select(q => q.Fact).ToList();
            WriteStrategies(Path.Combine(outDir, StrategiesFile), documents, steps);
            observer.OnMessage($"{documents.Chunks.Count} chunks of {documents.Chunks.Select(c => c.DocumentId).Distinct().Count()} documents, {facts.Count} questions; strategies: {string.Join(", ", documents.Strategies.Select(x => x.Name))}");
            if (!taught.Any() && probeList.Any(p => p.Name is "target-f1" or "first-facts-f1"))
            {
                observer.OnMessage("target-f1 skipped: no questions about these documents (pass data.questions=FILE, TriviaQA format)");
                probeList = probeList.Where(p => p.Name is not ("target-f1" or "first-facts-f1")).ToList();
            }
        }
        observer.OnMessage($"finetuning {baseDir} with {method!.Name} (lr {FinetuneMethods.EffectiveLr(cfg):G4}) on {items} {itemName}, {steps} steps");
        var loop = FinetuneMethods.Loop(cfg, steps);
        var probes = new Dictionary<string, double>();
        string streamFacts = Path.Combine(outDir, StreamFactsFile);
        DataFiles.WriteFacts(streamFacts, taught);
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

    /// <summary>
    /// Writes <see cref="StrategiesFile"/>: one row per step with its chunk and the lines each strategy made. The rows are a
    /// function of the config, so a resumed run writes the same file.
    /// </summary>
    static void WriteStrategies(string path, DocumentStream data, int steps)
    {
        var text = new System.Text.StringBuilder();
        for (int step = 0; step < steps; step++)
        {
            var lines = data.Lines(step);
            var row = new System.Text.Json.Nodes.JsonObject
            {
                ["step"] = step, ["chunk"] = data.ChunkAt(step).Id,
                ["strategies"] = new System.Text.Json.Nodes.JsonObject(DocumentStream.Usage(lines, data.Strategies)
                    .Select(kv => KeyValuePair.Create(kv.Key, (System.Text.Json.Nodes.JsonNode?)kv.Value))),
                ["lines"] = new System.Text.Json.Nodes.JsonArray(lines.Select(l => (System.Text.Json.Nodes.JsonNode?)l.Strategy).ToArray()),
            };
            text.Append(row.ToJsonString()).Append('\n');
        }
        AtomicFile.WriteAllText(path, text.ToString());
    }

    sealed class FirstBatchPerFact(IBatchSource stream, int stepsPerItem) : IBatchSource
    {
        public TrainingBatch Get(int step) => stream.Get(step * stepsPerItem);
    }
}
