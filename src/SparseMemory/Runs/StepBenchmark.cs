using SparseMemory.Training;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Finetuning;
using SparseMemory.Model;
using TorchSharp;

namespace SparseMemory.Runs;

/// <summary>Settings of <see cref="StepBenchmark.Run"/>.</summary>
/// <param name="BatchSize">Sequences per step (the finetuning paraphrase count).</param>
/// <param name="SeqLen">Tokens per sequence.</param>
/// <param name="WarmupSteps">Untimed steps at the start of every timed run.</param>
/// <param name="TimedSteps">Timed steps per method and round.</param>
/// <param name="TopT">t of the sparse methods.</param>
/// <param name="Rounds">Rounds; each times every method once, in a rotated order, so slow phases of the machine hit all methods.</param>
/// <param name="Seed">Seed of the model initialisation and the batches.</param>
public sealed record StepBenchmarkOptions(int BatchSize = 16, int SeqLen = 32, int WarmupSteps = 5, int TimedSteps = 20, int TopT = 512,
    int Rounds = 3, int Seed = 1)
{
    /// <summary>Problems with the settings (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (BatchSize <= 0 || SeqLen <= 0) e.Add("--batch-size and --seq-len must be ≥ 1");
        if (WarmupSteps <= 0 || TimedSteps <= 0) e.Add("--warmup and --steps must be ≥ 1");
        if (TopT <= 0) e.Add("--top-t must be ≥ 1");
        if (Rounds <= 0) e.Add("--rounds must be ≥ 1");
        return e;
    }
}

/// <summary>One method's step times over the rounds, and its ratio to full finetuning measured within each round.</summary>
/// <param name="Method">Display name.</param>
/// <param name="MillisecondsPerStep">Per round, in round order.</param>
/// <param name="RatioToFull">Per round: this method's ms/step ÷ full finetuning's ms/step in the same round.</param>
/// <param name="CpuMillisecondsPerStep">Per round: process CPU time per step (all threads), less sensitive to other load than wall time.</param>
/// <param name="CpuRatioToFull">Per round: the ratio of the CPU times.</param>
public sealed record StepTiming(string Method, IReadOnlyList<double> MillisecondsPerStep, IReadOnlyList<double> RatioToFull,
    IReadOnlyList<double> CpuMillisecondsPerStep, IReadOnlyList<double> CpuRatioToFull)
{
    /// <summary>Median CPU ms/step over the rounds.</summary>
    public double MedianCpuMs => Median(CpuMillisecondsPerStep);
    /// <summary>Median over the rounds of the within-round CPU-time ratio.</summary>
    public double MedianCpuRatio => Median(CpuRatioToFull);

    /// <summary>Median ms/step over the rounds.</summary>
    public double MedianMs => Median(MillisecondsPerStep);
    /// <summary>Median over the rounds of the within-round ratio to full finetuning.</summary>
    public double MedianRatio => Median(RatioToFull);

    static double Median(IReadOnlyList<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
}

/// <summary>What the benchmark times the methods on.</summary>
/// <param name="Description">One line for the report (model and batches).</param>
/// <param name="Config">The model architecture.</param>
/// <param name="NewModel">A fresh copy of the model for every timed run (the same weights each time).</param>
/// <param name="Batches">The batches, the same sequence for every method.</param>
/// <param name="Background">Background statistics for the TF-IDF ranker of the sparse methods.</param>
public sealed record BenchSubject(string Description, ModelConfig Config, Func<LanguageModel> NewModel, IBatchSource Batches,
    Func<LanguageModel, BackgroundStats> Background);

/// <summary>
/// Times optimizer steps of each finetuning method on the same model and the same batches, through the real
/// <see cref="Trainer"/> with the methods and loop settings <c>smf finetune</c> builds from its defaults (so every cost —
/// forward, backward, ranking, clipping, update, per-step metrics — is included). Ratios are formed within a round, where
/// all methods ran back to back; absolute times depend on the machine.
/// </summary>
public static class StepBenchmark
{
    /// <summary>A freshly initialised model (seeded), random-token batches; background statistics from 20 other random batches.</summary>
    public static BenchSubject RandomSubject(ModelConfig modelConfig, StepBenchmarkOptions o)
    {
        var data = new RandomBatches(modelConfig.VocabSize, o.BatchSize, o.SeqLen, o.Seed);
        return new BenchSubject($"random init, random tokens, batch {o.BatchSize} × {o.SeqLen}", modelConfig,
            () => { torch.manual_seed(o.Seed); return new LanguageModel(modelConfig); }, data, m => BackgroundFrom(m, data));
    }

    /// <summary>
    /// A checkpoint and its real finetuning batches: each step one fact as <see cref="StepBenchmarkOptions.BatchSize"/>
    /// paraphrases (right-padded), the stream <c>smf finetune</c> would train on; background statistics from the
    /// checkpoint's <c>background.safetensors</c> when present (else from 20 fact batches, which times the same work).
    /// </summary>
    public static BenchSubject CheckpointSubject(string dir, IReadOnlyList<Fact> facts, StepBenchmarkOptions o)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: checkpoint folder not found");
        var cfg = Checkpoint.ReadModelConfig(dir).Model;                     // weights are loaded per timed run only
        var tokenizer = Checkpoint.LoadTokenizer(dir, cfg);
        var data = new FactStreamData(facts, tokenizer, o.BatchSize, 1, o.Seed, false, cfg.MaxSeqLen);
        string bgPath = Path.Combine(dir, BackgroundStatsBuilder.FileName);
        var saved = File.Exists(bgPath) ? FinetuneMethods.LoadBackgroundFile(bgPath, dir) : null;
        return new BenchSubject($"{dir}, {facts.Count} facts × {o.BatchSize} paraphrases per step" +
            (saved is null ? ", background from 20 fact batches" : $", {bgPath}"), cfg,
            () => Checkpoint.Load(dir).Model, data, m => saved ?? BackgroundFrom(m, data));
    }

    static BackgroundStats BackgroundFrom(LanguageModel model, IBatchSource data)
    {
        // Statistics from 20 batches the timed runs do not use: meaningless as statistics, but the ranking does the same work.
        var stats = new BackgroundStats(model.MemoryValues!.shape[0], "benchmark");
        BackgroundStatsBuilder.Accumulate(stats, model, new OffsetSource(data, 1000), 20);
        return stats;
    }

    /// <summary>Runs the benchmark on <paramref name="subject"/>; <paramref name="progress"/> gets a line per timed run.</summary>
    public static IReadOnlyList<StepTiming> Run(BenchSubject subject, StepBenchmarkOptions options, Action<string>? progress = null)
    {
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));
        var modelConfig = subject.Config;
        var methods = Methods(modelConfig, options).ToList();
        var ms = methods.Select(_ => new double[options.Rounds]).ToList();
        var cpu = methods.Select(_ => new double[options.Rounds]).ToList();
        for (int round = 0; round < options.Rounds; round++)
        {
            for (int j = 0; j < methods.Count; j++)
            {
                int m = (j + round) % methods.Count;                         // rotate the order every round
                (ms[m][round], cpu[m][round]) = TimeOne(subject, methods[m].Config, options);
                progress?.Invoke($"round {round + 1}/{options.Rounds}: {methods[m].Name} {ms[m][round]:F1} ms/step ({cpu[m][round]:F1} CPU ms)");
            }
        }
        return Timings(methods.Select(x => x.Name).ToList(), ms, cpu);
    }

    static List<StepTiming> Timings(List<string> names, List<double[]> ms, List<double[]> cpu) =>
        names.Select((name, m) => new StepTiming(name, ms[m], ms[m].Select((t, r) => t / ms[0][r]).ToArray(),
            cpu[m], cpu[m].Select((t, r) => t / cpu[0][r]).ToArray())).ToList();

    /// <summary>
    /// Times one method's step with the optimised kernels (<see cref="FastPaths"/>) off (the reference, first row), all on,
    /// and — when there are several — each one alone, alternating within every round; the ratios are to the reference
    /// in the same round. The switches are restored afterwards.
    /// </summary>
    public static IReadOnlyList<StepTiming> RunPaths(BenchSubject subject, StepBenchmarkOptions options, string method, Action<string>? progress = null)
    {
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));
        var cfg = new FinetuneConfig { Seed = options.Seed, Method = method, Sparse = new FinetuneConfig().Sparse with { TopT = options.TopT } };
        var settings = new List<(string Name, Func<IDisposable> Apply)> { ("reference kernels", () => FastPaths.Set(false)), ("all fast paths", () => FastPaths.Set(true)) };
        if (FastPaths.All.Count > 1)
            settings.AddRange(FastPaths.All.Select(s => ($"only {s.Name}", (Func<IDisposable>)(() => FastPaths.Set(true, s.Name)))));
        var ms = settings.Select(_ => new double[options.Rounds]).ToList();
        var cpu = settings.Select(_ => new double[options.Rounds]).ToList();
        for (int round = 0; round < options.Rounds; round++)
        {
            for (int j = 0; j < settings.Count; j++)
            {
                int k = (j + round) % settings.Count;
                using (settings[k].Apply()) (ms[k][round], cpu[k][round]) = TimeOne(subject, cfg, options);
                progress?.Invoke($"round {round + 1}/{options.Rounds}: {settings[k].Name} {ms[k][round]:F1} ms/step ({cpu[k][round]:F1} CPU ms)");
            }
        }
        return Timings(settings.Select(x => x.Name).ToList(), ms, cpu);
    }

    /// <summary>Display name of the floor row: what every sparse-memory step must spend before ranking and updating.</summary>
    public const string FloorName = "floor: fwd + bwd to memory reads";

    /// <summary>
    /// The compared methods: full finetuning first (the denominator), then LoRA, the sparse variants, and the floor of
    /// sparse memory finetuning in this trainer — the forward pass plus the backward pass down to the memory reads, with
    /// no ranking and no update (config null) — so the cost of the selection and the row update shows as the gap above it.
    /// </summary>
    static IEnumerable<(string Name, FinetuneConfig? Config)> Methods(ModelConfig cfg, StepBenchmarkOptions o)
    {
        var defaults = new FinetuneConfig { Seed = o.Seed };
        var full = defaults with { Method = FullFinetuning.Spec.Name };
        yield return (FullFinetuning.Spec.Label(full), full);
        foreach (var spec in FinetuneMethods.Registry.All.Where(s => s != FullFinetuning.Spec && (cfg.Memory is not null || !s.NeedsMemoryLayer)))
        {
            var c = defaults with { Method = spec.Name, Sparse = defaults.Sparse with { TopT = o.TopT } };
            yield return (spec.Label(c), c);
            if (spec != SparseMemoryMethod.Spec) continue;
            foreach (var opt in RowOptimizers.Registry.All.Skip(1))          // the other row update rules, on the same ranker
            {
                var variant = c with { Sparse = c.Sparse with { Optimizer = opt.Name } };
                yield return (spec.Label(variant), variant);
            }
        }
        if (cfg.Memory is not null) yield return (FloorName, null);
    }

    static (double Wall, double Cpu) TimeOne(BenchSubject subject, FinetuneConfig? requested, StepBenchmarkOptions o)
    {
        var cfg = requested ?? new FinetuneConfig { Seed = o.Seed };
        // No dispose scope around a whole run: the trainer scopes every step; the model is disposed below.
        var model = subject.NewModel();
        var data = subject.Batches;
        BackgroundStats? background = requested is not null && FinetuneMethods.Spec(cfg).NeedsBackground(cfg) ? subject.Background(model) : null;
        var method = requested is null ? new ReadGradientsOnly() : FinetuneMethods.Create(cfg, background);
        int steps = o.WarmupSteps + o.TimedSteps;
        var times = new List<(TimeSpan Wall, TimeSpan Cpu)>();
        string dir = Path.Combine(Path.GetTempPath(), "smf-bench", Guid.NewGuid().ToString("N"));
        try
        {
            var loop = FinetuneMethods.Loop(cfg, steps) with { CheckpointEvery = steps, EvalEvery = steps };
            new Trainer(model, method, data, loop, torch.CPU, new Recorder(times)).Run(dir);
        }
        finally
        {
            (method as IDisposable)?.Dispose();
            model.Dispose();
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
        return ((times[^1].Wall - times[o.WarmupSteps - 1].Wall).TotalMilliseconds / o.TimedSteps,
            (times[^1].Cpu - times[o.WarmupSteps - 1].Cpu).TotalMilliseconds / o.TimedSteps);
    }

    /// <summary>Frozen model, memory reads captured, backward to them; no selection, no update.</summary>
    sealed class ReadGradientsOnly : ITrainingMethod, IStepOptimizer
    {
        List<ParamGroupSpec> _groups = [];
        public string Name => "floor";
        public bool NeedsAccessLog => true;
        public void Prepare(LanguageModel model)
        {
            foreach (var p in model.parameters()) p.requires_grad = false;
            model.CaptureValueReads = true;
        }
        public IReadOnlyList<ParamGroupSpec> ParameterGroups(LanguageModel model) =>
            _groups = [new ParamGroupSpec("values", [model.MemoryValues!], 0, 0, LrSchedule.Constant)];
        public IStepOptimizer? CreateOptimizer(IReadOnlyList<ParamGroupSpec> groups, LoopSettings loop) => this;
        public IReadOnlyList<ParamGroupSpec> Groups => _groups;
        public void SetLearningRate(int group, double lr) { }
        public void Step() { }
        public void ZeroGrad() { }
        public void Save(Stream destination) { }
        public void Load(Stream source, string origin) { }
        public void Dispose() { }
    }

    sealed class OffsetSource(IBatchSource inner, int offset) : IBatchSource
    {
        public TrainingBatch Get(int step) => inner.Get(step + offset);
    }

    sealed class RandomBatches(int vocab, int b, int t, int seed) : IBatchSource
    {
        public TrainingBatch Get(int step)
        {
            var g = new torch.Generator((ulong)SeedMix.Mix(seed, step));
            var x = torch.randint(0, vocab - 2, [b, t + 1], generator: g);
            return new TrainingBatch(x[.., ..t], x[.., 1..], null);
        }
    }

    sealed class Recorder(List<(TimeSpan Wall, TimeSpan Cpu)> times) : ITrainingObserver
    {
        public void OnStep(StepReport r) => times.Add((r.Elapsed, System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime));
        public void OnEval(int step, IReadOnlyDictionary<string, double> metrics) { }
        public void OnMessage(string message) { }
    }
}
