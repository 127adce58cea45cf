using System.Globalization;
using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Finetuning;
using SparseMemory.Reporting;
using SparseMemory.Training;

namespace SparseMemory.Runs;

/// <summary>One finetuning run of an experiment: a grid point at one seed.</summary>
/// <param name="Id">Folder name under <c>OUT/runs</c>, unique within the experiment.</param>
/// <param name="Entry">Report name of the grid entry (the method, or the entry's label).</param>
/// <param name="Method">Finetuning method.</param>
/// <param name="Seed">Finetuning seed.</param>
/// <param name="Params">The swept keys and their values at this point.</param>
/// <param name="Config">The finetune config of the run.</param>
/// <param name="Base">The base checkpoint it starts from.</param>
public sealed record ExperimentRunSpec(string Id, string Entry, string Method, int Seed, IReadOnlyDictionary<string, string> Params, FinetuneConfig Config,
    ExperimentBase Base);

/// <summary>A base checkpoint of an experiment: its folder, the pretraining overrides that make it, and the swept base keys.</summary>
/// <param name="Id">Suffix of its folder and of its runs' ids (empty when the base is not swept).</param>
/// <param name="Dir">The checkpoint folder.</param>
/// <param name="Layers">What is layered over the pretraining preset: the experiment's <c>base</c> keys, then this point of base_sweep.</param>
/// <param name="Params">This point of base_sweep, keys prefixed with <c>base.</c> (for a named model: <c>model</c> → its name).</param>
/// <param name="Given">Whether the folder is an existing checkpoint (<c>base_model</c> or one of <c>models</c>) rather than one the experiment pretrains.</param>
/// <param name="Named">Whether it is one of <c>models</c> (its <see cref="Id"/> is the name) rather than a base.</param>
public sealed record ExperimentBase(string Id, string Dir, IReadOnlyList<ConfigLayer> Layers, IReadOnlyDictionary<string, string> Params, bool Given = false, bool Named = false);

/// <summary>
/// <c>smf experiment</c>: builds or reuses the base checkpoint and its background statistics, runs every grid point for
/// every seed on the same fact stream, and renders the report (<see cref="ExperimentReport"/>). Every run is its own
/// resumable run folder, so an interrupted experiment continues where it stopped: finished runs are skipped, an
/// interrupted one resumes mid-stream, and <c>results.jsonl</c> is rebuilt from the run folders each time, so no run is
/// repeated or lost.
/// </summary>
public static class ExperimentRun
{
    /// <summary>File of one row per finished run (read by <see cref="ExperimentReport"/>).</summary>
    public const string ResultsFile = ExperimentReport.ResultsFile;

    /// <summary>The experiment preset used when neither a preset nor a config file is given.</summary>
    public const string DefaultPreset = "smoke";

    /// <summary>
    /// Loads an experiment config: defaults → <c>--preset</c> (presets/experiments) → file → <c>--set</c>, validated.
    /// Without a preset the <see cref="DefaultPreset"/> applies only when there is no file either: a file stands on the
    /// defaults alone, so that nothing of the smoke test (its backgrounds, its finetune overrides) leaks into it.
    /// </summary>
    public static ExperimentConfig LoadConfig(string? preset, string? file, IEnumerable<string>? sets) =>
        ConfigLoader.Load<ExperimentConfig>(preset ?? (file is null ? DefaultPreset : null), file, sets, c => c.Validate(), ConfigLoader.ExperimentPresets);

    /// <summary>Replaced by the base checkpoint folder in the finetune keys (e.g. <c>"sparse": {"background": "{base}/background-known.safetensors"}</c>).</summary>
    public const string BasePlaceholder = "{base}";

    /// <summary>The pretraining config of an experiment's (first) base model, as built when it has none given.</summary>
    public static PretrainConfig BaseConfig(ExperimentConfig cfg) =>
        ConfigLoader.Load<PretrainConfig>(cfg.BasePreset, null, Bases(cfg, "")[0].Layers, c => c.Validate());

    /// <summary>The (first) base checkpoint folder of an experiment in <paramref name="outDir"/>.</summary>
    public static string BaseDir(ExperimentConfig cfg, string outDir) => Bases(cfg, outDir)[0].Dir;

    /// <summary>The base checkpoints of an experiment: one, or one per point of <c>base_sweep</c>.</summary>
    public static IReadOnlyList<ExperimentBase> Bases(ExperimentConfig cfg, string outDir)
    {
        if (cfg.BaseModel is not null) return [new ExperimentBase("", cfg.BaseModel, [], new Dictionary<string, string>(), Given: true)];
        return Product(cfg.BaseSweep.Select(kv => (kv.Key, kv.Value.Select(SetValue).ToArray())).ToList()).Select(point =>
        {
            string id = point.Count == 0 ? "" : Sanitize(string.Join("_", point.Select(kv => $"{kv.Key.Split('.')[^1]}{kv.Value}")));
            return new ExperimentBase(id, Path.Combine(outDir, id.Length == 0 ? "base" : $"base-{id}"),
                new[] { cfg.Base.Layer("base") }.Concat(point.Select(kv => ConfigLayer.Of($"{kv.Key}={kv.Value}"))).ToList(),
                point.ToDictionary(kv => "base." + kv.Key, kv => kv.Value));
        }).ToList();
    }

    /// <summary>The named checkpoints of <c>models</c> (<see cref="ExperimentConfig.Models"/>), in declaration order.</summary>
    public static IReadOnlyList<ExperimentBase> Models(ExperimentConfig cfg) =>
        cfg.Models.Select(kv => new ExperimentBase(kv.Key, kv.Value!, [], new Dictionary<string, string> { ["model"] = kv.Key }, Given: true, Named: true)).ToList();

    /// <summary>The checkpoints a grid entry runs on: its named model, else every base.</summary>
    static IReadOnlyList<ExperimentBase> BasesOf(ExperimentConfig cfg, GridEntry entry, string outDir) =>
        entry.Model is { } name ? [Models(cfg).Single(m => m.Id == name)] : Bases(cfg, outDir);

    /// <summary>
    /// Every run of the experiment, in order (entry, grid point, seed). Names and values are checked against the
    /// registries and the finetune config here, before anything is trained.
    /// </summary>
    public static IReadOnlyList<ExperimentRunSpec> Plan(ExperimentConfig cfg, string outDir)
    {
        var runs = new List<ExperimentRunSpec>();
        var errors = new List<string>();
        // Base by base (then the named models), entry by entry: the order runs are executed and reported in.
        var order = Bases(cfg, outDir).SelectMany(b => Enumerable.Range(0, cfg.Grid.Length).Where(g => cfg.Grid[g].Model is null).Select(g => (b, g)))
            .Concat(Models(cfg).SelectMany(b => Enumerable.Range(0, cfg.Grid.Length).Where(g => cfg.Grid[g].Model == b.Id).Select(g => (b, g))));
        foreach (var (b, g) in order)
        {
            var recipe = Recipe(cfg, b);
            var entry = cfg.Grid[g];
            var spec = FinetuneMethods.Registry.Find(entry.Method);
            if (spec is null) { errors.Add($"grid[{g}].method: " + FinetuneMethods.Registry.UnknownMessage(entry.Method, "method")); continue; }
            string name = entry.Label ?? spec.Name;
            foreach (var point in Product(entry.Sweep.Select(kv => (kv.Key, kv.Value.Select(SetValue).ToArray())).ToList()))
            foreach (int seed in entry.Seeds ?? cfg.Seeds)
            {
                string baseDir = b.Dir;
                // The base model's recipe first, then what the experiment fixes for every run, then the entry, then the grid point.
                var layers = new List<ConfigLayer>();
                layers.AddRange(FinetuneRecipe.Sets(recipe, spec.Name).Select(ConfigLayer.Of));
                layers.AddRange(new[]
                {
                    $"base_model={baseDir}", $"method={spec.Name}", $"seed={seed}", $"probe_limit={cfg.ProbeLimit}", $"eval_every={cfg.EvalEvery}",
                    ConfigLoader.Set("probes", cfg.Probes),
                }.Select(ConfigLayer.Of));
                layers.Add(cfg.Finetune.Replace(BasePlaceholder, baseDir).Layer("finetune"));
                layers.Add(entry.Finetune.Replace(BasePlaceholder, baseDir).Layer($"grid[{g}].finetune"));
                layers.AddRange(point.Select(kv => ConfigLayer.Of($"{kv.Key}={kv.Value}")));
                FinetuneConfig ft;
                try { ft = ConfigLoader.Load<FinetuneConfig>(null, null, layers); }
                catch (ConfigException e) { errors.Add($"grid[{g}] ({name}): {e.Message}"); continue; }
                ft = FinetuneMethods.Canonical(ft);
                var problems = FinetuneRun.Validate(ft);           // the model section is filled from the base when the run starts
                if (problems.Count > 0) { errors.Add($"grid[{g}] ({name}): " + string.Join("; ", problems)); continue; }
                string id = RunId(name, point, seed) + (b.Id.Length == 0 ? "" : "_" + b.Id);
                var all = b.Params.Concat(point).ToDictionary(kv => kv.Key, kv => kv.Value);
                runs.Add(new ExperimentRunSpec(id, name, spec.Name, seed, all, ft, b));
            }
        }
        var dup = runs.GroupBy(r => r.Id).FirstOrDefault(x => x.Count() > 1);
        if (dup is not null) errors.Add($"grid: two entries produce the same run \"{dup.Key}\"; give one a distinct label");
        if (errors.Count > 0) throw new ConfigException("invalid experiment:\n  " + string.Join("\n  ", errors.Distinct()));
        return runs;
    }

    /// <summary>The finetuning defaults of a base: from its checkpoint when given, else from the pretraining preset that builds it.</summary>
    static IReadOnlyDictionary<string, string[]> Recipe(ExperimentConfig cfg, ExperimentBase b) =>
        b.Given
            ? (File.Exists(Path.Combine(b.Dir, Checkpoint.ConfigFile)) ? FinetuneRecipe.Of(b.Dir) : new Dictionary<string, string[]>())
            : ConfigLoader.Load<PretrainConfig>(cfg.BasePreset, null, b.Layers, c => c.Validate()).Finetune;

    /// <summary>Runs (or resumes) the experiment into <paramref name="outDir"/> and renders its report.</summary>
    public static ExperimentReport Run(ExperimentConfig requested, string outDir, ITrainingObserver observer)
    {
        var (_, runs) = Prepare(requested, outDir, observer);
        return Execute(runs, outDir, observer);
    }

    /// <summary>Runs (or resumes) the planned runs of a prepared experiment and renders its report.</summary>
    public static ExperimentReport Execute(IReadOnlyList<ExperimentRunSpec> runs, string outDir, ITrainingObserver observer)
    {
        for (int i = 0; i < runs.Count; i++)
        {
            var r = runs[i];
            observer.OnMessage($"run {i + 1}/{runs.Count}: {r.Id}");
            FinetuneRun.Run(r.Config, RunDir(outDir, r), observer);
        }
        WriteResults(runs, outDir);
        var report = ExperimentReport.Load(outDir);
        report.Render(outDir, AtomicFile.Write);
        return report;
    }

    /// <summary>The folder of one run.</summary>
    public static string RunDir(string outDir, ExperimentRunSpec run) => Path.Combine(outDir, "runs", run.Id);

    /// <summary>
    /// Checks every grid point, freezes the config into <paramref name="outDir"/>, and builds (or reuses) the base
    /// checkpoint and its background statistics; returns the frozen config and the planned runs.
    /// </summary>
    public static (ExperimentConfig Config, IReadOnlyList<ExperimentRunSpec> Runs) Prepare(ExperimentConfig requested, string outDir, ITrainingObserver observer)
    {
        EvalProbes.Registry.GetAll(requested.Probes, "probes");   // unknown probes are a ConfigException
        var runs = Plan(requested, outDir);                     // every grid point is checked before a folder is created
        if (!File.Exists(Path.Combine(outDir, Checkpoint.ConfigFile)))   // and a given base model is read whole (names, shapes, dtypes, finite values)
            foreach (var given in Bases(requested, outDir).Concat(Models(requested)).Where(b => b.Given))
                Checkpoint.Load(Checked(given)).Model.Dispose();
        var cfg = RunFolder.Prepare(requested, outDir);
        foreach (var b in Bases(cfg, outDir).Concat(Models(cfg))) PrepareBase(cfg, b, observer);
        return (cfg, runs);
    }

    /// <summary>Rebuilds <c>results.jsonl</c> from the finished run folders: one flat row per run.</summary>
    public static void WriteResults(IReadOnlyList<ExperimentRunSpec> runs, string outDir)
    {
        var rows = new List<JsonNode>();
        foreach (var r in runs)
        {
            string dir = RunDir(outDir, r);
            if (!File.Exists(Path.Combine(dir, RunFolder.SummaryFile))) continue;
            var evals = ResultFiles.ReadMetrics(Path.Combine(dir, Checkpoint.MetricsFile)).Rows
                .Where(row => row.Values.ContainsKey("target-f1/f1")).ToList();
            var row = new JsonObject
            {
                ["run"] = r.Id, ["entry"] = r.Entry, ["method"] = r.Method, ["seed"] = r.Seed, ["dir"] = Path.Combine("runs", r.Id),
                ["label"] = FinetuneMethods.Spec(r.Config).Label(r.Config),
                ["lr"] = FinetuneMethods.EffectiveLr(r.Config),
            };
            row["params"] = new JsonObject(r.Params.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
            row["before"] = ProbeValues(evals[0]);
            row["after"] = ProbeValues(evals[^1]);
            row["direction"] = new JsonObject(EvalProbes.Registry.GetAll(r.Config.Probes, "probes")
                .Select(p => KeyValuePair.Create($"{p.Name}/{p.Metric}", (JsonNode?)(p.HigherIsBetter ? "higher" : "lower"))));
            rows.Add(row);
        }
        ResultFile.WriteLines(Path.Combine(outDir, ResultsFile), rows);
    }

    /// <summary>Builds (or reuses) one base checkpoint and its background statistics.</summary>
    static void PrepareBase(ExperimentConfig cfg, ExperimentBase b, ITrainingObserver observer)
    {
        string baseDir = b.Given ? Checked(b) : b.Dir;
        if (!b.Given)
        {
            var pre = ConfigLoader.Load<PretrainConfig>(cfg.BasePreset, null, b.Layers, c => c.Validate());
            observer.OnMessage($"base model: preset {cfg.BasePreset}{(b.Id.Length == 0 ? "" : " with " + string.Join(", ", b.Params.Select(kv => $"{kv.Key[5..]}={kv.Value}")))} → {baseDir}");
            Pretraining.Run(pre, baseDir, observer);
        }
        if (b.Named && Checkpoint.ReadModelConfig(baseDir).Model.Memory is null) return;   // a dense model: nothing to rank, no statistics
        string bgPath = Path.Combine(baseDir, BackgroundStatsBuilder.FileName);
        if (!File.Exists(bgPath))
        {
            observer.OnMessage($"background statistics: {cfg.BackgroundBatches} batches → {bgPath}");
            BackgroundRun.Run(new BackgroundConfig { Model = baseDir, Batches = cfg.BackgroundBatches }, bgPath);
        }
        foreach (var (name, corpus) in b.Named ? [] : cfg.Backgrounds)
        {
            string path = Path.Combine(baseDir, $"background-{name}.safetensors");
            if (File.Exists(path)) continue;
            observer.OnMessage($"background statistics from {corpus}: {cfg.BackgroundBatches} batches → {path}");
            BackgroundRun.Run(new BackgroundConfig { Model = baseDir, Batches = cfg.BackgroundBatches, Corpus = corpus }, path);
        }
    }

    /// <summary>The folder of a given checkpoint, checked to be one.</summary>
    static string Checked(ExperimentBase b)
    {
        string key = b.Named ? $"models.{b.Id}" : "base_model";
        if (!File.Exists(Path.Combine(b.Dir, Checkpoint.ConfigFile)))
            throw new ConfigException($"{key}: {b.Dir} is not a checkpoint folder (no {Checkpoint.ConfigFile})");
        return b.Dir;
    }

    static JsonObject ProbeValues(MetricsRow metrics) =>
        new(metrics.Values.Where(kv => kv.Key.Contains('/')).Select(kv => KeyValuePair.Create(kv.Key, kv.Value is double d ? JsonValue.Create(d) : (JsonNode?)null)));

    static string SetValue(JsonNode? v) => v is JsonValue j && j.TryGetValue(out string? s) ? s : v?.ToJsonString() ?? "null";

    static IEnumerable<IReadOnlyDictionary<string, string>> Product(List<(string Key, string[] Values)> axes)
    {
        IEnumerable<List<(string, string)>> acc = [[]];
        foreach (var (key, values) in axes)
            acc = acc.SelectMany(p => values.Select(v => new List<(string, string)>(p) { (key, v) }));
        return acc.Select(p => (IReadOnlyDictionary<string, string>)p.ToDictionary(x => x.Item1, x => x.Item2));
    }

    static string RunId(string entry, IReadOnlyDictionary<string, string> point, int seed)
    {
        var parts = new List<string> { entry };
        parts.AddRange(point.Select(kv => $"{kv.Key.Split('.')[^1]}{kv.Value}"));
        parts.Add($"s{seed}");
        return Sanitize(string.Join("_", parts));
    }

    static string Sanitize(string id) => new(id.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' or '_' ? c : '-').ToArray());
}
