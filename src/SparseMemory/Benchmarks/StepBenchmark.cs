using SparseMemory.Training;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Finetuning;
using SparseMemory.Model;
using TorchSharp;

namespace SparseMemory.Benchmarks;

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

/// <summary>One timed finetuning method of the benchmark.</summary>
/// <param name="Id">Stable machine name (<c>full</c>, <c>sparse</c>, <c>sparse+adam_w</c>, <c>floor</c>, …).</param>
/// <param name="Label">Display name (the registry's label).</param>
/// <param name="Config">The finetune config it runs with; null for the floor.</param>
public sealed record BenchMethod(string Id, string Label, FinetuneConfig? Config);

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
        if (cfg.Dtype != ModelConfig.Float32)
            throw new ConfigException($"{Path.Combine(dir, Checkpoint.ConfigFile)}: model.dtype is {cfg.Dtype}; the step benchmark trains every method (full and lora too) " +
                                      $"and training needs float32 weights: import the model with --dtype {ModelConfig.Float32} (smf bench --decode times generation in any dtype)");
        var tokenizer = Checkpoint.LoadTokenizer(dir, cfg);
        var data = FactBatches.Create(facts, tokenizer, o.BatchSize, 1, o.Seed, false, cfg.MaxSeqLen);
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
        var methods = Methods(modelConfig, options.TopT, options.Seed).ToList();
        var ms = methods.Select(_ => new double[options.Rounds]).ToList();
        var cpu = methods.Select(_ => new double[options.Rounds]).ToList();
        for (int round = 0; round < options.Rounds; round++)
        {
            for (int j = 0; j < methods.Count; j++)
            {
                int m = (j + round) % methods.Count;                         // rotate the order every round
                (ms[m][round], cpu[m][round]) = TimeMethodAndCpu(subject, methods[m].Config, options.WarmupSteps, options.TimedSteps, options.Seed);
                progress?.Invoke($"round {round + 1}/{options.Rounds}: {methods[m].Label} {ms[m][round]:F1} ms/step ({cpu[m][round]:F1} CPU ms)");
            }
        }
        return Timings(methods.Select(x => x.Label).ToList(), ms, cpu);
    }

    static List<StepTiming> Timings(List<string> names, List<double[]> ms, List<double[]> cpu) =>
        names.Select((name, m) => new StepTiming(name, ms[m], ms[m].Select((t, r) => t / ms[0][r]).ToArray(),
            cpu[m], cpu[m].Select((t, r) => t / cpu[0][r]).ToArray())).ToList();

    /// <summary>
    /// Times one method's step with the optimised kernels (<see cref="FastPaths"/>) off (the reference, first row), all on,
    /// and — when there are several — each one alone, alternating within every round; the ratios are to the reference
    /// in the same round. Each timed model carries its setting; nothing process-wide changes.
    /// </summary>
    public static IReadOnlyList<StepTiming> RunPaths(BenchSubject subject, StepBenchmarkOptions options, string method, Action<string>? progress = null)
    {
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));
        var cfg = new FinetuneConfig { Seed = options.Seed, Method = method, Sparse = new FinetuneConfig().Sparse with { TopT = options.TopT } };
        var settings = new List<(string Name, FastPaths Paths)> { ("reference kernels", FastPaths.Reference), ("all fast paths", FastPaths.On) };
        if (FastPaths.All.Count > 1)
            settings.AddRange(FastPaths.All.Select(s => ($"only {s.Name}", FastPaths.Only(s.Name))));
        var ms = settings.Select(_ => new double[options.Rounds]).ToList();
        var cpu = settings.Select(_ => new double[options.Rounds]).ToList();
        for (int round = 0; round < options.Rounds; round++)
        {
            for (int j = 0; j < settings.Count; j++)
            {
                int k = (j + round) % settings.Count;
                (ms[k][round], cpu[k][round]) = TimeMethodAndCpu(subject, cfg, options.WarmupSteps, options.TimedSteps, options.Seed, settings[k].Paths);
                progress?.Invoke($"round {round + 1}/{options.Rounds}: {settings[k].Name} {ms[k][round]:F1} ms/step ({cpu[k][round]:F1} CPU ms)");
            }
        }
        return Timings(settings.Select(x => x.Name).ToList(), ms, cpu);
    }

    /// <summary>Display name of the floor row: what every sparse-memory step must spend before ranking and updating.</summary>
    public const string FloorName = "floor: fwd + bwd to memory reads";

    /// <summary>Id of the floor in <see cref="Methods"/>.</summary>
    public const string FloorId = "floor";

    /// <summary>Id of the default sparse method (its default row optimizer and ranker) in <see cref="Methods"/>.</summary>
    public static string SparseId => SparseMemoryMethod.Spec.Name;

    /// <summary>Id of full finetuning (the denominator of the ratios) in <see cref="Methods"/>.</summary>
    public static string FullId => FullFinetuning.Spec.Name;

    /// <summary>
    /// The compared methods: full finetuning first (the denominator), then every other registered method at its
    /// defaults, the other row optimizers of the sparse method (on its default ranker), with <paramref name="everyRanker"/>
    /// the other rankers too (with its default row optimizer), and the floor of sparse memory finetuning in this trainer —
    /// the forward pass plus the backward pass down to the memory reads, with no ranking and no update (config null) — so
    /// the cost of the selection and the row update shows as the gap above it. Ids are stable names for machine-readable
    /// output (<c>full</c>, <c>sparse</c>, <c>sparse+adam_w</c>, <c>sparse+kl</c>, <c>floor</c>, …); labels are the
    /// registry's labels.
    /// </summary>
    public static IEnumerable<BenchMethod> Methods(ModelConfig cfg, int topT, int seed, bool everyRanker = false)
    {
        var defaults = new FinetuneConfig { Seed = seed };
        var full = defaults with { Method = FullFinetuning.Spec.Name };
        yield return new(FullFinetuning.Spec.Name, FullFinetuning.Spec.Label(full), full);
        foreach (var spec in FinetuneMethods.Registry.All.Where(s => s != FullFinetuning.Spec && (cfg.Memory is not null || !s.NeedsMemoryLayer)))
        {
            var c = defaults with { Method = spec.Name, Sparse = defaults.Sparse with { TopT = topT } };
            yield return new(spec.Name, spec.Label(c), c);
            if (spec != SparseMemoryMethod.Spec) continue;
            foreach (var opt in RowOptimizers.Registry.All.Where(o => o.Name != RowOptimizers.Registry.Get(c.Sparse.Optimizer, "sparse.optimizer").Name))
            {
                var variant = c with { Sparse = c.Sparse with { Optimizer = opt.Name } };   // the other row update rules, on the same ranker
                yield return new($"{spec.Name}+{opt.Name}", spec.Label(variant), variant);
            }
            if (!everyRanker) continue;
            foreach (var ranker in SlotRankers.Registry.All.Where(r => r.Name != SlotRankers.Registry.Get(c.Sparse.Ranker, "sparse.ranker").Name
                                                                      && r != AllAccessedRanker.Spec))   // all-accessed is the memory_all method
            {
                var variant = c with { Sparse = c.Sparse with { Ranker = ranker.Name } };
                yield return new($"{spec.Name}+{ranker.Name}", spec.Label(variant), variant);
            }
        }
        if (cfg.Memory is not null) yield return new(FloorId, FloorName, null);
    }

    /// <summary>
    /// Ms per optimizer step of one method (config null: the floor) on a fresh model of <paramref name="subject"/>, through
    /// the real trainer with the loop <c>smf finetune</c> builds: the mean over <paramref name="timedSteps"/> steps after
    /// <paramref name="warmupSteps"/> untimed ones.
    /// </summary>
    public static double TimeMethod(BenchSubject subject, FinetuneConfig? requested, int warmupSteps, int timedSteps, int seed) =>
        TimeMethodAndCpu(subject, requested, warmupSteps, timedSteps, seed).Wall;

    /// <summary>As <see cref="TimeMethod"/>, with the process CPU ms per step (all threads) too; the model runs the kernels <paramref name="paths"/> (default all fast).</summary>
    public static (double Wall, double Cpu) TimeMethodAndCpu(BenchSubject subject, FinetuneConfig? requested, int warmupSteps, int timedSteps, int seed, FastPaths? paths = null)
    {
        var cfg = requested ?? new FinetuneConfig { Seed = seed };
        // No dispose scope around a whole run: the trainer scopes every step; the model is disposed below.
        var model = subject.NewModel();
        model.FastPaths = paths ?? FastPaths.On;
        ITrainingMethod? method = null;
        try
        {
            BackgroundStats? background = requested is not null && FinetuneMethods.Spec(cfg).NeedsBackground(cfg) ? subject.Background(model) : null;
            method = requested is null ? new ReadGradientsOnly() : FinetuneMethods.Create(cfg, background);
            return TimeStepsAndCpu(model, method, subject.Batches, FinetuneMethods.Loop(cfg, 1), warmupSteps, timedSteps);
        }
        finally
        {
            (method as IDisposable)?.Dispose();
            model.Dispose();
        }
    }

    /// <summary>
    /// Ms per optimizer step of <paramref name="method"/> on <paramref name="model"/> through the real <see cref="Trainer"/>
    /// (every per-step cost included: forward, backward, the method's work, clipping, the update, metrics rows), as the
    /// mean over <paramref name="timedSteps"/> steps after <paramref name="warmupSteps"/> untimed ones. The loop's step
    /// count is set here; the run stops right after the last timed step, so no checkpoint is written (which at a
    /// million slots would cost seconds of disk I/O per timed run and time nothing of a step).
    /// </summary>
    public static double TimeSteps(LanguageModel model, ITrainingMethod method, IBatchSource data, LoopSettings loop, int warmupSteps, int timedSteps) =>
        TimeStepsAndCpu(model, method, data, loop, warmupSteps, timedSteps).Wall;

    /// <summary>As <see cref="TimeSteps"/>, with the process CPU ms per step (all threads) too.</summary>
    public static (double Wall, double Cpu) TimeStepsAndCpu(LanguageModel model, ITrainingMethod method, IBatchSource data, LoopSettings loop, int warmupSteps, int timedSteps)
    {
        if (warmupSteps <= 0 || timedSteps <= 0) throw new ArgumentException("warm-up and timed steps must be ≥ 1");
        int steps = warmupSteps + timedSteps;
        var times = new List<(TimeSpan Wall, TimeSpan Cpu)>();
        string dir = Path.Combine(Path.GetTempPath(), "smf-bench", Guid.NewGuid().ToString("N"));
        try
        {
            // One step more than timed, never taken: the batch source ends the run before it, so the final checkpoint
            // (at the last step) is never reached; cadences beyond the run keep checkpoints and evaluations out.
            var bounded = loop with { Steps = steps + 1, CheckpointEvery = steps + 1, EvalEvery = steps + 1 };
            // Timing, not training: an untrained model on random tokens grows rows far beyond the divergence guard's bound at
            // the default sparse lr, and that is not what is measured (NaN and ±infinity still stop the run).
            new Trainer(model, method, new StopAfter(data, steps), bounded, torch.CPU, new Recorder(times)) { StopOnFiniteDivergence = false }.Run(dir);
        }
        catch (StopAfter.Reached) { }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
        if (times.Count != steps) throw new InvalidOperationException($"the timed run stopped after {times.Count} of {steps} steps");
        return ((times[^1].Wall - times[warmupSteps - 1].Wall).TotalMilliseconds / timedSteps,
            (times[^1].Cpu - times[warmupSteps - 1].Cpu).TotalMilliseconds / timedSteps);
    }

    /// <summary>Random-token batches [b, t] of a vocabulary, one per step, seeded by (seed, step).</summary>
    public static IBatchSource RandomTokens(int vocab, int batchSize, int seqLen, int seed) => new RandomBatches(vocab, batchSize, seqLen, seed);

    /// <summary>Background statistics from 20 batches of <paramref name="data"/> that the timed runs do not use.</summary>
    public static BackgroundStats BackgroundFor(LanguageModel model, IBatchSource data) => BackgroundFrom(model, data);

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

    /// <summary>Passes batches 0 … n−1 through and ends the run (by <see cref="Reached"/>) when batch n is asked for.</summary>
    sealed class StopAfter(IBatchSource inner, int n) : IBatchSource
    {
        public sealed class Reached : Exception;
        public TrainingBatch Get(int step) => step < n ? inner.Get(step) : throw new Reached();
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
