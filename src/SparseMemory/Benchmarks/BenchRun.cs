using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data.Facts;
using SparseMemory.Finetuning;
using SparseMemory.Model;
using SparseMemory.Reporting;
using SparseMemory.Training;
using TorchSharp;

namespace SparseMemory.Benchmarks;

/// <summary>What <see cref="BenchRun.Run"/> measured: the result object (written by <c>--out</c>, printed by <c>--json</c>)
/// and its terminal rendering.</summary>
/// <param name="Json">The result (shapes in docs/benchmarks.md).</param>
/// <param name="Text">A table and the notes that read it.</param>
/// <param name="IsSuite">The suite's object (printed indented) rather than the method table's or the decode timings' (one line).</param>
public sealed record BenchOutcome(JsonObject Json, string Text, bool IsSuite);

/// <summary>
/// <c>smf bench</c>: runs the benchmark a <see cref="BenchConfig"/> selects — the method table (<see cref="StepBenchmark"/>),
/// one method's kernels (<see cref="StepBenchmark.RunPaths"/>), generation (<see cref="DecodeBenchmark"/>) or the suite
/// (<see cref="BenchSuite"/>) — and assembles its result. Settings left unset take each benchmark's own defaults.
/// </summary>
public static class BenchRun
{
    /// <summary>Loads the config (defaults → <paramref name="file"/> → <paramref name="overrides"/>), validated.</summary>
    public static BenchConfig LoadConfig(string? file, IEnumerable<string> overrides) =>
        ConfigLoader.Load<BenchConfig>(null, file, overrides, Problems);

    /// <summary>Every problem of a config: which benchmarks go together, then the chosen benchmark's own ranges.</summary>
    public static IReadOnlyList<string> Problems(BenchConfig cfg)
    {
        var e = cfg.Validate().ToList();
        if (e.Count > 0) return e;
        if (cfg.Paths is { } p && FinetuneMethods.Registry.Find(p) is null) e.Add(FinetuneMethods.Registry.UnknownMessage(p, "paths (--paths)"));
        e.AddRange(cfg.IsSuite ? SuiteOptions(cfg, 0).Validate() : cfg.Decode != 0 ? DecodeOptions(cfg, 0).Validate() : StepOptions(cfg, 0).Validate());
        return e;
    }

    /// <summary>The pretraining config of the model timed (seed, threads, architecture, the suite's pretraining shape).</summary>
    public static PretrainConfig ModelConfig(BenchConfig cfg) =>
        ConfigLoader.Load<PretrainConfig>(cfg.BasePreset, null, [cfg.Base.Layer("base")], c => c.Validate());

    /// <summary>The method table's settings: the config's where given, else <see cref="StepBenchmarkOptions"/>'s.</summary>
    public static StepBenchmarkOptions StepOptions(BenchConfig cfg, int seed)
    {
        var d = new StepBenchmarkOptions();
        return new StepBenchmarkOptions(cfg.BatchSize ?? d.BatchSize, cfg.SeqLen ?? d.SeqLen, cfg.Warmup ?? d.WarmupSteps, cfg.Steps ?? d.TimedSteps,
            cfg.TopT ?? d.TopT, cfg.Rounds ?? d.Rounds, seed);
    }

    /// <summary>The decode benchmark's settings: the config's where given, else <see cref="DecodeBenchmarkOptions"/>'s.</summary>
    public static DecodeBenchmarkOptions DecodeOptions(BenchConfig cfg, int seed)
    {
        var d = new DecodeBenchmarkOptions();
        return new DecodeBenchmarkOptions(cfg.Decode, cfg.PromptLen ?? d.PromptLength, cfg.Rows ?? d.Rows, cfg.Rounds ?? d.Rounds, seed);
    }

    /// <summary>The suite's settings: its mode's defaults, except what the config gives.</summary>
    public static BenchSuiteOptions SuiteOptions(BenchConfig cfg, int seed)
    {
        var o = (cfg.Quick ? BenchSuiteOptions.QuickDefaults : BenchSuiteOptions.Full) with { Seed = seed };
        return o with
        {
            BatchSize = cfg.BatchSize ?? o.BatchSize, SeqLen = cfg.SeqLen ?? o.SeqLen, FinetuneSteps = cfg.Steps ?? o.FinetuneSteps,
            FinetuneWarmupSteps = cfg.Warmup ?? o.FinetuneWarmupSteps, TopT = cfg.TopT ?? o.TopT, Rounds = cfg.Rounds ?? o.Rounds,
            WarmupRounds = cfg.WarmupRounds ?? o.WarmupRounds, MemoryKeys = cfg.MemoryKeys ?? o.MemoryKeys,
        };
    }

    /// <summary>Runs the benchmark <paramref name="cfg"/> selects; <paramref name="log"/> gets what it is doing.</summary>
    public static BenchOutcome Run(BenchConfig cfg, Action<string> log)
    {
        var problems = Problems(cfg);
        if (problems.Count > 0) throw new ConfigException("invalid bench config:\n  " + string.Join("\n  ", problems));
        var model = ModelConfig(cfg);
        Runtime.Configure(model.Seed, model.Threads);
        return cfg.IsSuite ? Suite(cfg, model, log) : cfg.Decode != 0 ? Decode(cfg, model, log) : Methods(cfg, model, log);
    }

    /// <summary>Writes the result to <paramref name="path"/> and the config frozen beside it; returns the config's path.</summary>
    public static string Save(BenchConfig cfg, BenchOutcome outcome, string path)
    {
        ResultFile.Write(path, outcome.Json);
        return ResultFile.FreezeConfig(cfg, path);
    }

    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    static BenchOutcome Methods(BenchConfig cfg, PretrainConfig model, Action<string> log)
    {
        var options = StepOptions(cfg, model.Seed);
        var subject = cfg.Model is { } dir
            ? StepBenchmark.CheckpointSubject(dir, FactsFile.ReadNamedOrFile(cfg.Data), options)
            : StepBenchmark.RandomSubject(model.Model, options);
        log($"{(cfg.Model is null ? $"model '{model.Name}', " : "")}{subject.Description}; {options.Rounds} rounds × " +
            $"({options.WarmupSteps} warm-up + {options.TimedSteps} timed steps) per method, {torch.get_num_threads()} threads");
        string? paths = cfg.Paths is null ? null : FinetuneMethods.Registry.Get(cfg.Paths, "paths").Name;
        var results = paths is null ? StepBenchmark.Run(subject, options, log) : StepBenchmark.RunPaths(subject, options, paths, log);
        var json = JsonSerializer.SerializeToNode(new
        {
            model = cfg.Model ?? model.Name, subject = subject.Description, batch_size = options.BatchSize, seq_len = options.SeqLen, top_t = options.TopT,
            rounds = options.Rounds, timed_steps = options.TimedSteps, threads = torch.get_num_threads(),
            methods = results.Select(r => new
            {
                method = r.Method, ms_per_step = r.MillisecondsPerStep, ratio_to_full = r.RatioToFull,
                median_ms = r.MedianMs, median_ratio = r.MedianRatio,
                cpu_ms_per_step = r.CpuMillisecondsPerStep, cpu_ratio = r.CpuRatioToFull, median_cpu_ms = r.MedianCpuMs, median_cpu_ratio = r.MedianCpuRatio,
            }),
        }, ConfigLoader.Json)!.AsObject();
        var table = new Table(null, new TableColumn("method"), new TableColumn("ms/step", ColumnAlign.Right),
            new TableColumn("range", ColumnAlign.Right), new TableColumn(paths is null ? "÷ full" : "÷ reference", ColumnAlign.Right),
            new TableColumn("CPU ms/step", ColumnAlign.Right), new TableColumn("CPU ÷", ColumnAlign.Right));
        foreach (var r in results)
            table.AddRow(r.Method, TableCell.Of(r.MedianMs, "F1"),
                string.Create(Inv, $"{r.MillisecondsPerStep.Min():F1}–{r.MillisecondsPerStep.Max():F1}"),
                TableCell.Of(r.MedianRatio, "F3"), TableCell.Of(r.MedianCpuMs, "F1"), TableCell.Of(r.MedianCpuRatio, "F3"));
        string text = table.ToText() + $"ms/step: median over rounds; ÷ {(paths is null ? "full" : "reference")}: median of the ratios measured within each round\n";
        return new BenchOutcome(json, text, false);
    }

    static BenchOutcome Decode(BenchConfig cfg, PretrainConfig model, Action<string> log)
    {
        var options = DecodeOptions(cfg, model.Seed);
        LanguageModel lm;
        if (cfg.Model is { } dir) lm = Checkpoint.Load(dir).Model;
        else { torch.manual_seed(model.Seed); lm = new LanguageModel(model.Model); }
        string subject = cfg.Model ?? $"model '{model.Name}' (random init)";
        log($"{subject}: {options.Rows} row(s), prompt ≤ {options.PromptLength} tokens, {options.NewTokens} new tokens, " +
            $"{options.Rounds} rounds, {torch.get_num_threads()} threads");
        var t = DecodeBenchmark.Run(lm, options, log);
        lm.Dispose();
        double refMed = DecodeTiming.Median(t.ReferenceTokensPerSecond), kvMed = DecodeTiming.Median(t.CachedTokensPerSecond);
        double speedup = DecodeTiming.Median(t.Speedup), cpuSpeedup = DecodeTiming.Median(t.CpuSpeedup);
        var json = JsonSerializer.SerializeToNode(new
        {
            model = subject, rows = options.Rows, prompt_len = options.PromptLength, new_tokens = options.NewTokens, rounds = options.Rounds,
            threads = torch.get_num_threads(), reference_tokens_per_s = t.ReferenceTokensPerSecond,
            kv_cache_tokens_per_s = t.CachedTokensPerSecond, speedup = t.Speedup, median_speedup = speedup, tokens_identical = t.TokensIdentical,
            reference_tokens_per_cpu_s = t.ReferenceTokensPerCpuSecond, kv_cache_tokens_per_cpu_s = t.CachedTokensPerCpuSecond,
            cpu_speedup = t.CpuSpeedup, median_cpu_speedup = cpuSpeedup,
        }, ConfigLoader.Json)!.AsObject();
        string text = string.Create(Inv, $"reference (full prefix every step): {refMed:F1} tokens/s (median)\n") +
                      string.Create(Inv, $"kv cache:                           {kvMed:F1} tokens/s (median)\n") +
                      string.Create(Inv, $"speedup: {speedup:F2}× (median of within-round ratios; per CPU second {cpuSpeedup:F2}×); tokens identical: {(t.TokensIdentical ? "yes" : "no")}\n");
        return new BenchOutcome(json, text, false);
    }

    static BenchOutcome Suite(BenchConfig cfg, PretrainConfig model, Action<string> log)
    {
        var o = SuiteOptions(cfg, model.Seed);
        var facts = cfg.Model is null ? null : FactsFile.ReadNamedOrFile(cfg.Data);
        log($"bench suite ({(cfg.Quick ? "quick" : "full")}): {(cfg.Model is null ? $"model '{model.Name}', random init" : cfg.Model)}; " +
            $"{o.WarmupRounds} warm-up + {o.Rounds} rounds, {torch.get_num_threads()} threads");
        var result = BenchSuite.Run(model, o, cfg.Model, facts, log);
        var j = result.Json;
        var env = j["environment"]!;
        string text = result.Table.ToText()
            + string.Create(Inv, $"sparse step ÷ full step: {j["sparse_step_ratio"]}  (range {Range(j["sparse_step_ratio_range"])}); sparse step ÷ floor: {j["sparse_floor_ratio"]}  (range {Range(j["sparse_floor_ratio_range"])})\n")
            + $"matmul peak {j["matmul_peak_gflops"]} GFLOP/s; {env["threads"]} threads; torch {env["torch_version"]}, BLAS {env["blas"]?.ToString() ?? "unknown"}"
            + $"{(env["cpu_capability"] is { } cap ? $", {cap}" : "")}; {j["seconds"]} s\n"
            + "median over rounds; ratios are medians of ratios formed within each round; peak RSS: " + j["rss_method"] + "\n";
        return new BenchOutcome(j, text, true);
    }

    static string Range(JsonNode? range) => range is JsonArray { Count: 2 } a ? $"{a[0]}–{a[1]}" : "—";
}
