using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Finetuning;
using SparseMemory.Model;
using SparseMemory.Reporting;
using SparseMemory.Training;
using TorchSharp;

namespace SparseMemory.Benchmarks;

/// <summary>Settings of <see cref="BenchSuite.Run"/>. <see cref="Full"/> and <see cref="QuickDefaults"/> are the two modes of <c>smf bench</c>.</summary>
public sealed record BenchSuiteOptions
{
    /// <summary>The short mode (<c>--quick</c>): recorded in the output.</summary>
    public bool Quick { get; init; }
    /// <summary>Measured rounds; each runs every scenario once, in an order rotated by one every round.</summary>
    public int Rounds { get; init; } = 5;
    /// <summary>
    /// Rounds run first and discarded: every scenario at its smallest (one warm-up and one timed step), except the memory
    /// sizes from <see cref="LargeMemorySlots"/> on, whose code paths the smaller sizes warm and whose own warm-up steps
    /// remain.
    /// </summary>
    public int WarmupRounds { get; init; } = 1;
    /// <summary>Sequences per finetuning step (the paraphrase count).</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Tokens per finetuning sequence.</summary>
    public int SeqLen { get; init; } = 32;
    /// <summary>t of the sparse methods.</summary>
    public int TopT { get; init; } = 512;
    /// <summary>Untimed steps at the start of every timed finetuning run.</summary>
    public int FinetuneWarmupSteps { get; init; } = 5;
    /// <summary>Timed finetuning steps per method and round.</summary>
    public int FinetuneSteps { get; init; } = 20;
    /// <summary>Also time the sparse method with every other registered ranker.</summary>
    public bool EveryRanker { get; init; } = true;
    /// <summary>Untimed pretraining steps per round (the shape is the preset's <c>train.batch_size</c> × <c>train.seq_len</c>).</summary>
    public int PretrainWarmupSteps { get; init; } = 2;
    /// <summary>Timed pretraining steps per round.</summary>
    public int PretrainSteps { get; init; } = 5;
    /// <summary>
    /// N of the memory-size scenarios (N² slots each): the sparse step, the full finetuning step and the pretraining step
    /// (the last with at most the pretraining scenario's warm-up and timed steps).
    /// </summary>
    public int[] MemoryKeys { get; init; } = [128, 256, 512, 1024];
    /// <summary>Untimed steps of every memory-size run.</summary>
    public int MemoryWarmupSteps { get; init; } = 2;
    /// <summary>Timed steps of a memory-size run below <see cref="LargeMemorySlots"/>.</summary>
    public int MemorySteps { get; init; } = 10;
    /// <summary>From this many slots on, memory-size runs take <see cref="LargeMemorySteps"/> timed steps.</summary>
    public long LargeMemorySlots { get; init; } = 262_144;
    /// <summary>Timed steps of a large memory-size run.</summary>
    public int LargeMemorySteps { get; init; } = 3;
    /// <summary>Batches (finetuning shape) of the background-statistics and forward-only scenarios, per round.</summary>
    public int BackgroundBatches { get; init; } = 100;
    /// <summary>New tokens of the generation scenario (greedy, no stop at end-of-text).</summary>
    public int GenerationTokens { get; init; } = 200;
    /// <summary>n of the fp32 n×n×n matmul that measures the machine's peak.</summary>
    public int MatmulSize { get; init; } = 2048;
    /// <summary>Timed matmuls per round (their median is the round's peak).</summary>
    public int MatmulReps { get; init; } = 5;
    /// <summary>Characters of the embedded corpus the generation tokenizer is trained on (fresh models only).</summary>
    public long TokenizerChars { get; init; } = 300_000;
    /// <summary>Seed of models, batches and sampling.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The full suite (≈ 8 min of CPU time with the base preset, ≈ 5–10 min on a quiet 2-core machine; dominated by the 1M-slot scenarios).</summary>
    public static BenchSuiteOptions Full => new();

    /// <summary>The quick suite: every scenario, fewer rounds and steps (under 3 minutes on a quiet 2-core machine with the base preset).</summary>
    public static BenchSuiteOptions QuickDefaults => new()
    {
        Quick = true, Rounds = 2, FinetuneWarmupSteps = 2, FinetuneSteps = 5, PretrainWarmupSteps = 1, PretrainSteps = 2,
        MemoryWarmupSteps = 1, MemorySteps = 3, LargeMemorySteps = 1, BackgroundBatches = 20, MatmulReps = 3,
    };

    /// <summary>Problems with the settings (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (Rounds <= 0) e.Add("--rounds must be ≥ 1");
        if (WarmupRounds < 0) e.Add("--warmup-rounds must be ≥ 0");
        if (BatchSize <= 0 || SeqLen <= 0) e.Add("--batch-size and --seq-len must be ≥ 1");
        if (TopT <= 0) e.Add("--top-t must be ≥ 1");
        if (FinetuneWarmupSteps <= 0 || FinetuneSteps <= 0) e.Add("--warmup and --steps must be ≥ 1");
        if (PretrainWarmupSteps <= 0 || PretrainSteps <= 0 || MemoryWarmupSteps <= 0 || MemorySteps <= 0 || LargeMemorySteps <= 0)
            e.Add("pretraining and memory-size steps must be ≥ 1");
        if (MemoryKeys.Any(n => n < 2)) e.Add("--memory-keys must all be ≥ 2");
        if (BackgroundBatches <= 0) e.Add("background batches must be ≥ 1");
        if (GenerationTokens <= 0) e.Add("generation tokens must be ≥ 1");
        if (MatmulSize <= 0 || MatmulReps <= 0) e.Add("matmul size and repetitions must be ≥ 1");
        if (TokenizerChars <= 0) e.Add("tokenizer characters must be ≥ 1");
        return e;
    }
}

/// <summary>The suite's result: the JSON object written by <c>smf bench --out</c> and a terminal table of it.</summary>
/// <param name="Json">The result (shape in docs/benchmarks.md).</param>
/// <param name="Table">One row per scenario.</param>
public sealed record BenchSuiteResult(JsonObject Json, Table Table)
{
    /// <summary>The JSON, indented.</summary>
    public string ToJsonText() => ResultFile.Text(Json);

    /// <summary>Writes the JSON atomically to <paramref name="path"/>.</summary>
    public void Save(string path) => ResultFile.Write(path, Json);
}

/// <summary>
/// <c>smf bench --quick|--suite</c>: every performance scenario of the project in one run, on one machine state —
/// the fp32 matmul peak, the pretraining step (tokens/s, MFU against that peak), the finetuning step of every registered
/// method and its floor, the sparse, full-finetuning and pretraining steps at several memory sizes, background-statistics
/// counting against a forward-only pass, and greedy generation — with the peak RSS of each. Warm-up rounds are run and
/// discarded; every measured round runs every scenario once, in an order rotated by one each round, and ratios are
/// formed within a round (where the scenarios ran back to back) before the median and the range over rounds are taken.
/// </summary>
public static class BenchSuite
{
    /// <summary>Version of the JSON shape.</summary>
    public const string Schema = "smf-bench-suite/1";

    /// <summary>How <c>peak_rss_mb</c> is measured when the high-water mark can be reset (Linux).</summary>
    public const string RssPerScenario = "VmHWM of /proc/self/status, reset (clear_refs 5) before each scenario run: the peak RSS during the scenario, max over measured rounds; it includes what the process held before (rss_before_mb)";

    /// <summary>How <c>peak_rss_mb</c> reads when the high-water mark cannot be reset.</summary>
    public const string RssProcessWide = "VmHWM of /proc/self/status, not resettable here: the process-wide peak RSS up to the end of the scenario, max over measured rounds";

    /// <summary>The prompt of the generation scenario.</summary>
    public const string GenerationPrompt = "The capital of France is";

    /// <summary>
    /// Runs the suite. The model is <paramref name="cfg"/>'s (random init, random tokens), or with
    /// <paramref name="checkpoint"/> that checkpoint with its real fact batches (<paramref name="facts"/>) and tokenizer;
    /// the pretraining step always has the shape of <paramref name="cfg"/>'s <c>train</c> section on random tokens.
    /// </summary>
    public static BenchSuiteResult Run(PretrainConfig cfg, BenchSuiteOptions o, string? checkpoint = null, IReadOnlyList<Fact>? facts = null,
        Action<string>? progress = null)
    {
        var errors = o.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));
        if (checkpoint is not null && facts is null) throw new ArgumentException("a checkpoint subject needs the facts of its finetuning batches");
        var clock = Stopwatch.StartNew();
        var started = DateTimeOffset.UtcNow;
        var environment = BenchEnvironment.Describe();
        var stepOptions = new StepBenchmarkOptions(o.BatchSize, o.SeqLen, o.FinetuneWarmupSteps, o.FinetuneSteps, o.TopT, o.Rounds, o.Seed);
        var subject = checkpoint is null ? StepBenchmark.RandomSubject(cfg.Model, stepOptions) : StepBenchmark.CheckpointSubject(checkpoint, facts!, stepOptions);
        var model = subject.Config;
        var train = cfg.Train with { SeqLen = Math.Min(cfg.Train.SeqLen, model.MaxSeqLen) };

        progress?.Invoke("setting up the generation model and tokenizer …");
        var setup = Stopwatch.StartNew();
        var generation = GenerationSubject(model, checkpoint, o);
        double setupSeconds = setup.Elapsed.TotalSeconds;

        var series = new List<Series>();
        var units = new List<(string Name, Action<int, bool> Run)>();
        var skipWhenWarm = new HashSet<string>();                               // large memory sizes: not run in warm-up rounds
        Series Add(string name, string label, string group, string unit)
        {
            var s = new Series(name, label, group, unit, o.Rounds);
            series.Add(s);
            return s;
        }

        // The machine's peak: an fp32 n×n×n matmul.
        var matmul = Add($"matmul_fp32_{o.MatmulSize}", $"matmul fp32 {o.MatmulSize}³", "peak", "ms/matmul");
        matmul.WorkPerUnit = 2.0 * o.MatmulSize * o.MatmulSize * o.MatmulSize;
        units.Add((matmul.Name, (r, warm) => Record(matmul, r, TimeMatmul(o.MatmulSize, warm ? 1 : o.MatmulReps))));

        // The pretraining step on the preset's shape.
        AddPretrain("pretrain_step", $"pretrain step {train.BatchSize} × {train.SeqLen}", "pretrain", model, null);

        // Every finetuning method and the floor, on the subject's batches.
        var methods = StepBenchmark.Methods(model, o.TopT, o.Seed, o.EveryRanker).ToList();
        foreach (var m in methods)
        {
            var s = Add($"finetune/{m.Id}", m.Label, "finetune", "ms/step");
            s.TokensPerUnit = double.NaN;                                       // fact batches are padded: tokens vary per step
            units.Add((s.Name, (r, warm) => Record(s, r, StepBenchmark.TimeMethod(subject, m.Config,
                warm ? 1 : o.FinetuneWarmupSteps, warm ? 1 : o.FinetuneSteps, o.Seed))));
        }

        // Memory size: the sparse step, the full finetuning step and the pretraining step at N² slots. The size of the
        // subject's own model on random tokens is the same measurement as the scenarios above: reported as theirs, not rerun.
        if (model.Memory is not null)
            foreach (int n in o.MemoryKeys)
            {
                var sized = model with { Memory = model.Memory with { NumKeys = n, TopK = Math.Min(model.Memory.TopK, n) } };
                long slots = sized.Memory!.Slots;
                bool same = checkpoint is null && sized == model;
                bool large = slots >= o.LargeMemorySlots;
                int timed = large ? o.LargeMemorySteps : o.MemorySteps;
                var sizedSubject = StepBenchmark.RandomSubject(sized, stepOptions);
                foreach (var m in methods.Where(m => m.Id == StepBenchmark.SparseId || m.Id == StepBenchmark.FullId))
                {
                    string name = $"memory/{slots}/{m.Id}", label = $"{m.Label}, {SlotsText(slots)} slots";
                    if (same) { Alias(name, label, $"finetune/{m.Id}", slots); continue; }
                    var s = Add(name, label, "memory_size", "ms/step");
                    s.Slots = slots;
                    units.Add((s.Name, (r, warm) => Record(s, r, StepBenchmark.TimeMethod(sizedSubject, m.Config,
                        warm ? 1 : o.MemoryWarmupSteps, warm ? 1 : timed, o.Seed))));
                    if (large) skipWhenWarm.Add(s.Name);
                }
                if (same) { Alias($"memory/{slots}/pretrain", $"pretrain step, {SlotsText(slots)} slots", "pretrain_step", slots); continue; }
                var p = AddPretrain($"memory/{slots}/pretrain", $"pretrain step, {SlotsText(slots)} slots", "memory_size", sized, timed);
                p.Slots = slots;
                if (large) skipWhenWarm.Add(p.Name);
            }

        // Background statistics (forward with the access log + per-slot counting) against a forward-only pass, same batches.
        if (model.Memory is not null)
        {
            var counting = Add("background_stats", $"background statistics, {o.BatchSize} × {o.SeqLen} batches", "background", "ms/batch");
            var forward = Add("forward_only", $"forward only, {o.BatchSize} × {o.SeqLen} batches", "background", "ms/batch");
            forward.Partner = counting.Name;                                    // timed inside the background unit
            units.Add((counting.Name, (r, warm) => TimeBackground(subject, warm ? 2 : o.BackgroundBatches, r, counting, forward)));
        }

        // Greedy generation through TextGenerator.
        var gen = Add("generation", $"generation, {o.GenerationTokens} new tokens (greedy)", "generation", "ms/generation");
        gen.TokensPerUnit = o.GenerationTokens;
        units.Add((gen.Name, (r, warm) => Record(gen, r, TimeGeneration(generation, warm ? Math.Min(8, o.GenerationTokens) : o.GenerationTokens))));

        bool peakResets = ProcessMemory.ResetPeak();
        int totalRounds = o.WarmupRounds + o.Rounds;
        for (int k = 0; k < totalRounds; k++)
        {
            bool warm = k < o.WarmupRounds;
            int round = k - o.WarmupRounds;                                      // < 0: a warm-up round, discarded
            string roundName = warm ? $"warm-up round {k + 1}/{o.WarmupRounds}" : $"round {round + 1}/{o.Rounds}";
            for (int j = 0; j < units.Count; j++)
            {
                var (name, run) = units[(j + k) % units.Count];                  // rotate the order every round
                if (warm && skipWhenWarm.Contains(name)) continue;
                GC.Collect();
                GC.WaitForPendingFinalizers();
                double? before = ProcessMemory.RssMiB();
                if (peakResets) ProcessMemory.ResetPeak();
                var unitClock = Stopwatch.StartNew();
                run(round, warm);
                double unitSeconds = unitClock.Elapsed.TotalSeconds;
                double? peak = ProcessMemory.PeakRssMiB();
                foreach (var s in series.Where(s => s.Name == name || s.Partner == name))
                {
                    s.Seconds += unitSeconds;
                    if (warm) continue;
                    s.RssBefore[round] = before ?? double.NaN;
                    s.PeakRss[round] = peak ?? double.NaN;
                }
                progress?.Invoke($"{roundName}: {name} {Describe(series, name, round, warm)}");
            }
        }

        var json = ToJson(cfg, model, train, subject, checkpoint, o, series, environment, peakResets, started, clock.Elapsed.TotalSeconds, setupSeconds);
        return new BenchSuiteResult(json, ToTable(series));

        void Alias(string name, string label, string of, long slots) =>
            series.Add(new Series(name, label, "memory_size", series.First(x => x.Name == of)) { Slots = slots });

        Series AddPretrain(string name, string label, string group, ModelConfig shape, int? timedSteps)
        {
            var s = Add(name, label, group, "ms/step");
            s.TokensPerUnit = (double)train.BatchSize * train.SeqLen;
            (s.NActive, s.FlopsPerToken) = FlopsPerToken(shape, train.SeqLen);
            s.MfuOf = matmul;
            // A pretraining step costs seconds: memory sizes take no more steps than the pretraining scenario itself.
            int warmup = Math.Min(o.PretrainWarmupSteps, timedSteps is null ? int.MaxValue : o.MemoryWarmupSteps);
            int steps = Math.Min(o.PretrainSteps, timedSteps ?? int.MaxValue);
            units.Add((s.Name, (r, warm) => Record(s, r, TimePretrain(shape, train, o.Seed, warm ? 1 : warmup, warm ? 1 : steps))));
            return s;
        }
    }

    /// <summary>
    /// The active parameters per token and the training FLOPs per token of a model at context <paramref name="seqLen"/>:
    /// 6·N_active + 12·L·T·D, where N_active counts every weight a token's forward pass multiplies with — the blocks,
    /// the memory's query, keys (every sub-key is scored) and projections, the output head (the tied embedding counts
    /// once, as the head; the input lookup is no matmul) — and, of the value table, only the rows a token reads
    /// (memory layers × heads × top-k rows of Dv).
    /// </summary>
    public static (long NActive, double FlopsPerToken) FlopsPerToken(ModelConfig cfg, int seqLen)
    {
        torch.manual_seed(0);
        using var model = new LanguageModel(cfg with { Memory = cfg.Memory is null ? null : cfg.Memory with { NumKeys = Math.Min(cfg.Memory.NumKeys, 2 * cfg.Memory.TopK) } });
        long total = model.parameters().Sum(p => p.numel());
        long values = model.MemoryValues?.numel() ?? 0;
        // The value table is the only parameter whose size depends on N besides the keys (2·H·N·Dk/2 = H·N·Dk): correct both to the real N.
        long keysHere = 0, keysReal = 0;
        if (cfg.Memory is { } mem)
        {
            int nHere = Math.Min(mem.NumKeys, 2 * mem.TopK);
            keysHere = (long)mem.Layers.Length * mem.Heads * nHere * mem.KeyDim;
            keysReal = (long)mem.Layers.Length * mem.Heads * mem.NumKeys * mem.KeyDim;
        }
        long embedding = cfg.TieEmbeddings ? 0 : (long)cfg.VocabSize * cfg.Dim;   // untied: the input table is a lookup; tied: it is the head
        long reads = cfg.Memory is { } m ? (long)m.Layers.Length * m.Heads * m.TopK * m.ResolvedValueDim(cfg.Dim) : 0;
        long nActive = total - values - keysHere + keysReal - embedding + reads;
        return (nActive, 6.0 * nActive + 12.0 * cfg.Layers * seqLen * cfg.Dim);
    }

    static string SlotsText(long slots) => slots >= 1 << 20 && slots % (1 << 20) == 0 ? $"{slots >> 20}M"
        : slots >= 1024 && slots % 1024 == 0 ? $"{slots >> 10}k" : slots.ToString(CultureInfo.InvariantCulture);

    /// <summary>Per-round measurements of one scenario.</summary>
    sealed class Series
    {
        public Series(string name, string label, string group, string unit, int rounds)
        {
            (Name, Label, Group, Unit) = (name, label, group, unit);
            (Ms, Tokens, PeakRss, RssBefore) = (Filled(rounds), Filled(rounds), Filled(rounds), Filled(rounds));
        }

        /// <summary>A second name for the measurements of <paramref name="of"/> (the same scenario, reported under both).</summary>
        public Series(string name, string label, string group, Series of)
        {
            (Name, Label, Group, Unit, SameAs) = (name, label, group, of.Unit, of);
            (Ms, Tokens, PeakRss, RssBefore) = (of.Ms, of.Tokens, of.PeakRss, of.RssBefore);
            (TokensPerUnit, WorkPerUnit, NActive, FlopsPerToken, MfuOf) = (of.TokensPerUnit, of.WorkPerUnit, of.NActive, of.FlopsPerToken, of.MfuOf);
        }

        public string Name { get; }
        public string Label { get; }
        public string Group { get; }
        public string Unit { get; }
        /// <summary>The unit whose run also measures this series (forward-only runs inside the background unit).</summary>
        public string? Partner { get; set; }
        /// <summary>The series whose measurements these are (an alias), or null.</summary>
        public Series? SameAs { get; }
        /// <summary>Wall seconds of every run of the scenario (warm-up rounds and setup included).</summary>
        public double Seconds { get; set; }
        public double[] Ms { get; }
        public double[] Tokens { get; }
        public double[] PeakRss { get; }
        public double[] RssBefore { get; }
        /// <summary>Tokens per timed unit when constant (pretraining steps, generations); NaN when they vary (then <see cref="Tokens"/>).</summary>
        public double TokensPerUnit { get; set; } = double.NaN;
        public double WorkPerUnit { get; set; } = double.NaN;
        public long? Slots { get; set; }
        public long? NActive { get; set; }
        public double? FlopsPerToken { get; set; }
        public Series? MfuOf { get; set; }

        static double[] Filled(int n) { var a = new double[n]; Array.Fill(a, double.NaN); return a; }

        public double TokensPerSecond(int r) => (double.IsFinite(TokensPerUnit) ? TokensPerUnit : Tokens[r]) / (Ms[r] / 1000);
    }

    static void Record(Series s, int round, double ms)
    {
        if (round >= 0) s.Ms[round] = ms;
    }

    static string Describe(List<Series> series, string name, int round, bool warm)
    {
        if (warm) return "done";
        return string.Join(", ", series.Where(s => s.Name == name || s.Partner == name)
            .Select(s => string.Create(CultureInfo.InvariantCulture, $"{(s.Name == name ? "" : s.Name + " ")}{s.Ms[round]:F1} {s.Unit}")));
    }

    // ------------------------------------------------------------------------------------------
    // The scenarios
    // ------------------------------------------------------------------------------------------

    static double TimeMatmul(int n, int reps)
    {
        using var scope = torch.NewDisposeScope();
        var g = new torch.Generator(7);
        var a = torch.randn([n, n], generator: g);
        var b = torch.randn([n, n], generator: g);
        torch.mm(a, b).Dispose();                                              // warm-up
        var ms = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            torch.mm(a, b).Dispose();
            ms[i] = sw.Elapsed.TotalMilliseconds;
        }
        return Median(ms);
    }

    /// <summary>
    /// Pretraining steps on random tokens of <paramref name="train"/>'s shape, with the method and loop
    /// <see cref="SparseMemory.Runs.Pretraining"/> builds (AdamW, the value table in its own group at its fixed lr, clipped separately,
    /// warmup + cosine; kept in step with <c>Pretraining.Run</c>).
    /// </summary>
    static double TimePretrain(ModelConfig cfg, TrainConfig train, int seed, int warmup, int timed)
    {
        torch.manual_seed(seed);
        var model = new LanguageModel(cfg);
        try
        {
            var method = new FullTraining(train.Lr, train.WeightDecay, train.ValueLr, train.ValueWeightDecay, LrSchedule.WarmupCosine);
            var data = StepBenchmark.RandomTokens(cfg.VocabSize, train.BatchSize, train.SeqLen, seed);
            return StepBenchmark.TimeSteps(model, method, data, LoopSettings.From(train), warmup, timed);
        }
        finally { model.Dispose(); }
    }

    /// <summary>
    /// The same batches through <see cref="BackgroundStatsBuilder.Accumulate"/> (forward with the access log, counting per
    /// value row) and through a plain forward pass (no log), one after the other in an order that alternates by round.
    /// </summary>
    static void TimeBackground(BenchSubject subject, int batches, int round, Series counting, Series forward)
    {
        var model = subject.NewModel();
        var list = Enumerable.Range(5000, batches).Select(subject.Batches.Get).ToList();
        try
        {
            var source = new ListSource(list);
            long tokens = 0;
            using (torch.NewDisposeScope())
                foreach (var b in list) tokens += b.ValidMask is null ? b.Inputs.numel() : b.ValidMask.sum().item<long>();
            double Count()
            {
                var stats = new BackgroundStats(model.MemoryValues!.shape[0], "benchmark");
                BackgroundStatsBuilder.Accumulate(stats, model, new ListSource(list.GetRange(0, 1)), 1);   // warm-up batch
                stats = new BackgroundStats(model.MemoryValues!.shape[0], "benchmark");
                var sw = Stopwatch.StartNew();
                BackgroundStatsBuilder.Accumulate(stats, model, source, batches);
                return sw.Elapsed.TotalMilliseconds / batches;
            }
            double Forward()
            {
                using var _ = torch.no_grad();
                model.eval();
                double ms = 0;
                for (int i = -1; i < batches; i++)                             // i = −1: warm-up batch
                {
                    using var scope = torch.NewDisposeScope();
                    var b = list[Math.Max(i, 0)];
                    var sw = Stopwatch.StartNew();
                    model.Forward(b.Inputs, null, null).Dispose();
                    if (i >= 0) ms += sw.Elapsed.TotalMilliseconds;
                }
                return ms / batches;
            }
            double c, f;
            if (round % 2 == 0) { c = Count(); f = Forward(); } else { f = Forward(); c = Count(); }
            if (round >= 0)
            {
                counting.Ms[round] = c; forward.Ms[round] = f;
                counting.Tokens[round] = forward.Tokens[round] = (double)tokens / batches;
            }
        }
        finally
        {
            foreach (var b in list) { b.Inputs.Dispose(); b.Targets.Dispose(); b.ValidMask?.Dispose(); }
            model.Dispose();
        }
    }

    sealed class ListSource(IReadOnlyList<TrainingBatch> batches) : IBatchSource
    {
        public TrainingBatch Get(int step) => batches[step % batches.Count];
    }

    /// <summary>The model and tokenizer generation runs with: the checkpoint's, or a fresh model with a tokenizer trained for it.</summary>
    static Func<(LanguageModel Model, ITokenizer Tokenizer)> GenerationSubject(ModelConfig model, string? checkpoint, BenchSuiteOptions o)
    {
        if (checkpoint is not null)
            return () => { var l = Checkpoint.Load(checkpoint); return (l.Model, l.Tokenizer); };
        // A random-init model has no tokenizer; one trained on the embedded corpus decodes every id (a vocabulary it
        // cannot fill is matched by the model's, so the output head stays the preset's size whenever the corpus suffices).
        var docs = CorpusLoader.Load(new DataConfig { MaxChars = o.TokenizerChars }, o.Seed);
        var tokenizer = ByteLevelBpeTokenizer.Train(docs, model.VocabSize);
        var cfg = model with { VocabSize = Math.Min(model.VocabSize, tokenizer.VocabSize) };
        return () => { torch.manual_seed(o.Seed); return (new LanguageModel(cfg), (ITokenizer)tokenizer); };
    }

    static double TimeGeneration(Func<(LanguageModel Model, ITokenizer Tokenizer)> subject, int tokens)
    {
        var (model, tokenizer) = subject();
        try
        {
            // Exactly `tokens` new tokens: no stop at end-of-text (a random model emits it at random).
            var options = new SamplingOptions(MaxTokens: tokens, Temperature: 0, StopAtEos: false);
            TextGenerator.Generate(model, tokenizer, GenerationPrompt, options with { MaxTokens = Math.Min(4, tokens) });   // warm-up
            var sw = Stopwatch.StartNew();
            TextGenerator.Generate(model, tokenizer, GenerationPrompt, options);
            return sw.Elapsed.TotalMilliseconds;
        }
        finally { model.Dispose(); }
    }

    // ------------------------------------------------------------------------------------------
    // Results
    // ------------------------------------------------------------------------------------------

    static double Median(IEnumerable<double> xs)
    {
        var s = xs.Where(double.IsFinite).Order().ToArray();
        if (s.Length == 0) return double.NaN;
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    static double[] PerRound(Series s, Func<int, double> f) => Enumerable.Range(0, s.Ms.Length).Select(f).ToArray();

    static JsonNode? Num(double x) => double.IsFinite(x) ? JsonValue.Create(Math.Round(x, 6)) : null;

    static JsonArray Arr(IEnumerable<double> xs) => new(xs.Select(Num).ToArray());

    static JsonArray Range(double[] xs)
    {
        var f = xs.Where(double.IsFinite).ToArray();
        return f.Length == 0 ? Arr([double.NaN, double.NaN]) : Arr([f.Min(), f.Max()]);
    }

    /// <summary>Adds <c>{key}</c> (median), <c>{key}_per_round</c> and <c>{key}_range</c>.</summary>
    static void Stat(JsonObject o, string key, double[] perRound)
    {
        o[key] = Num(Median(perRound));
        o[key + "_per_round"] = Arr(perRound);
        o[key + "_range"] = Range(perRound);
    }

    /// <summary>Per round: the within-round ratio of <paramref name="a"/> to <paramref name="b"/>.</summary>
    static double[] Ratio(Series a, Series b) => PerRound(a, r => a.Ms[r] / b.Ms[r]);

    static JsonObject ToJson(PretrainConfig cfg, ModelConfig model, TrainConfig train, BenchSubject subject, string? checkpoint, BenchSuiteOptions o,
        List<Series> series, JsonObject environment, bool peakResets, DateTimeOffset started, double seconds, double setupSeconds)
    {
        Series? Find(string name) => series.FirstOrDefault(s => s.Name == name);
        var full = Find($"finetune/{StepBenchmark.FullId}");
        var floor = Find($"finetune/{StepBenchmark.FloorId}");
        var sparse = Find($"finetune/{StepBenchmark.SparseId}");
        var scenarios = new JsonArray();
        foreach (var s in series)
        {
            var j = new JsonObject { ["name"] = s.Name, ["label"] = s.Label, ["group"] = s.Group, ["unit"] = s.Unit };
            j["median_ms"] = Num(Median(s.Ms));
            j["ms_per_round"] = Arr(s.Ms);
            j["ms_range"] = Range(s.Ms);
            if (s.Slots is long slots) j["slots"] = slots;
            Series? denominator = s.Group == "finetune" ? full
                : s.Group == "memory_size" && s.Name.EndsWith("/" + StepBenchmark.SparseId, StringComparison.Ordinal)
                    ? Find(s.Name[..s.Name.LastIndexOf('/')] + "/" + StepBenchmark.FullId)
                : s.Group == "memory_size" && s.Name.EndsWith("/" + StepBenchmark.FullId, StringComparison.Ordinal) ? s
                : null;
            if (denominator is not null) Stat(j, "ratio_to_full", Ratio(s, denominator));
            if (s.Group == "finetune" && floor is not null) Stat(j, "ratio_to_floor", Ratio(s, floor));
            if (s.Name == "background_stats" && Find("forward_only") is { } fwd) Stat(j, "ratio_to_forward", Ratio(s, fwd));
            if (double.IsFinite(s.TokensPerUnit) || s.Tokens.Any(double.IsFinite)) Stat(j, "tokens_per_s", PerRound(s, s.TokensPerSecond));
            if (double.IsFinite(s.WorkPerUnit)) Stat(j, "gflops", PerRound(s, r => s.WorkPerUnit / (s.Ms[r] / 1000) / 1e9));
            if (s.FlopsPerToken is double fpt && s.MfuOf is { } peak)
            {
                j["n_active"] = s.NActive;
                j["flops_per_token"] = fpt;
                Stat(j, "achieved_gflops", PerRound(s, r => fpt * s.TokensPerSecond(r) / 1e9));
                Stat(j, "mfu", PerRound(s, r => fpt * s.TokensPerSecond(r) / (peak.WorkPerUnit / (peak.Ms[r] / 1000))));
            }
            j["peak_rss_mb"] = Num(s.PeakRss.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Max());
            j["rss_before_mb"] = Num(Median(s.RssBefore));
            if (s.SameAs is { } same) j["same_as"] = same.Name;
            else j["seconds"] = Math.Round(s.Seconds, 2);
            scenarios.Add(j);
        }
        var matmul = series[0];
        var root = new JsonObject
        {
            ["schema"] = Schema,
            ["mode"] = o.Quick ? "quick" : "full",
            ["started_at"] = started.ToString("O", CultureInfo.InvariantCulture),
            ["seconds"] = Math.Round(seconds, 1),
            ["setup_seconds"] = Math.Round(setupSeconds, 1),
            ["preset"] = cfg.Name,
            ["checkpoint"] = checkpoint,
            ["subject"] = subject.Description,
            ["model"] = new JsonObject
            {
                ["vocab_size"] = model.VocabSize, ["dim"] = model.Dim, ["layers"] = model.Layers, ["heads"] = model.Heads,
                ["ffn_hidden"] = model.FfnHidden, ["memory_layers"] = new JsonArray((model.Memory?.Layers ?? []).Select(l => (JsonNode)l).ToArray()),
                ["slots"] = model.Memory?.Slots ?? 0, ["memory_heads"] = model.Memory?.Heads, ["top_k"] = model.Memory?.TopK,
            },
            ["settings"] = new JsonObject
            {
                ["rounds"] = o.Rounds, ["warmup_rounds"] = o.WarmupRounds, ["order"] = "rotated by one scenario every round",
                ["batch_size"] = o.BatchSize, ["seq_len"] = o.SeqLen, ["top_t"] = o.TopT,
                ["finetune_warmup_steps"] = o.FinetuneWarmupSteps, ["finetune_steps"] = o.FinetuneSteps,
                ["pretrain_batch_size"] = train.BatchSize, ["pretrain_seq_len"] = train.SeqLen,
                ["pretrain_warmup_steps"] = o.PretrainWarmupSteps, ["pretrain_steps"] = o.PretrainSteps,
                ["memory_keys"] = new JsonArray(o.MemoryKeys.Select(n => (JsonNode)n).ToArray()),
                ["memory_warmup_steps"] = o.MemoryWarmupSteps, ["memory_steps"] = o.MemorySteps,
                ["large_memory_slots"] = o.LargeMemorySlots, ["large_memory_steps"] = o.LargeMemorySteps,
                ["background_batches"] = o.BackgroundBatches, ["generation_tokens"] = o.GenerationTokens,
                ["matmul_size"] = o.MatmulSize, ["matmul_reps"] = o.MatmulReps, ["seed"] = o.Seed,
            },
            ["environment"] = environment,
            ["load_average_at_end"] = BenchEnvironment.LoadAverage(),
            ["rss_method"] = peakResets ? RssPerScenario : RssProcessWide,
            ["mfu_definition"] = "(6·N_active + 12·L·T·D) FLOPs per token × tokens/s ÷ the fp32 matmul GFLOP/s of the same round; N_active counts of the value table only the rows a token reads",
            ["matmul_peak_gflops"] = Num(Median(PerRound(matmul, r => matmul.WorkPerUnit / (matmul.Ms[r] / 1000) / 1e9))),
        };
        if (sparse is not null && full is not null)
        {
            var ratios = Ratio(sparse, full);
            root["sparse_step_ratio"] = Num(Median(ratios));
            root["sparse_step_ratio_range"] = Range(ratios);
        }
        if (sparse is not null && floor is not null)
        {
            var ratios = Ratio(sparse, floor);
            root["sparse_floor_ratio"] = Num(Median(ratios));
            root["sparse_floor_ratio_range"] = Range(ratios);
        }
        if (floor is not null && full is not null)
        {
            var ratios = Ratio(floor, full);
            root["floor_step_ratio"] = Num(Median(ratios));
            root["floor_step_ratio_range"] = Range(ratios);
        }
        root["scenarios"] = scenarios;
        return root;
    }

    static Table ToTable(List<Series> series)
    {
        var t = new Table(null, new TableColumn("scenario"), new TableColumn("median", ColumnAlign.Right), new TableColumn("unit"),
            new TableColumn("range", ColumnAlign.Right), new TableColumn("ratio", ColumnAlign.Right), new TableColumn("tokens/s", ColumnAlign.Right),
            new TableColumn("MFU", ColumnAlign.Right), new TableColumn("peak RSS MB", ColumnAlign.Right));
        var full = series.FirstOrDefault(s => s.Name == $"finetune/{StepBenchmark.FullId}");
        var fwd = series.FirstOrDefault(s => s.Name == "forward_only");
        foreach (var s in series)
        {
            double ratio = double.NaN;
            string ratioOf = "";
            if (s.Group == "finetune" && full is not null) { ratio = Median(Ratio(s, full)); ratioOf = " ÷ full"; }
            else if (s.Group == "memory_size" && s.Name.EndsWith("/" + StepBenchmark.SparseId, StringComparison.Ordinal)
                     && series.FirstOrDefault(x => x.Name == s.Name[..s.Name.LastIndexOf('/')] + "/" + StepBenchmark.FullId) is { } f)
            { ratio = Median(Ratio(s, f)); ratioOf = " ÷ full"; }
            else if (s.Name == "background_stats" && fwd is not null) { ratio = Median(Ratio(s, fwd)); ratioOf = " ÷ fwd"; }
            double tps = double.IsFinite(s.TokensPerUnit) || s.Tokens.Any(double.IsFinite) ? Median(PerRound(s, s.TokensPerSecond)) : double.NaN;
            double mfu = s.FlopsPerToken is double fpt && s.MfuOf is { } peak
                ? Median(PerRound(s, r => fpt * s.TokensPerSecond(r) / (peak.WorkPerUnit / (peak.Ms[r] / 1000)))) : double.NaN;
            var fin = s.Ms.Where(double.IsFinite).ToArray();
            string range = fin.Length == 0 ? Table.MissingText : string.Create(CultureInfo.InvariantCulture, $"{fin.Min():F1}–{fin.Max():F1}");
            double peakRss = s.PeakRss.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Max();
            t.AddRow(s.Label, TableCell.Of(Median(s.Ms), "F1"), s.Unit, range,
                double.IsFinite(ratio) ? ratio.ToString("F3", CultureInfo.InvariantCulture) + ratioOf : Table.MissingText,
                TableCell.Of(tps, "N0"), double.IsFinite(mfu) ? mfu.ToString("P1", CultureInfo.InvariantCulture) : Table.MissingText,
                TableCell.Of(peakRss, "N0"));
        }
        return t;
    }
}
