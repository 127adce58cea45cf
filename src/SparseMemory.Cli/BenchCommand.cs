using SparseMemory.Reporting;
using SparseMemory.Runs;
using SparseMemory.Benchmarks;
using System.CommandLine;
using System.Text.Json;
using SparseMemory.Data.Facts;
using SparseMemory.Config;
using SparseMemory.Training;
using SparseMemory.Model;
using SparseMemory.Checkpoints;

namespace SparseMemory.Cli;

/// <summary>
/// <c>smf bench</c>: by default the step time of each finetuning method on one model and batch shape, as ratios to full
/// finetuning (the method table); with <c>--quick</c> or <c>--suite</c> the whole performance suite
/// (<see cref="BenchSuite"/>), written as one JSON object with <c>--out FILE</c>.
/// </summary>
public static class BenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var preset = CliRunner.PresetOption("base");   // same model as demo; base sets the pretraining-step shape of the suite (32 × 128)
        var sets = CliRunner.SetOption();
        var d = new StepBenchmarkOptions();
        var batch = new Option<int>("--batch-size") { Description = "Sequences per step (the finetuning paraphrase count)", DefaultValueFactory = _ => d.BatchSize };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence (fact paraphrase batches of the base model average ~32)", DefaultValueFactory = _ => d.SeqLen };
        var steps = new Option<int>("--steps") { Description = "Timed steps per method and round", DefaultValueFactory = _ => d.TimedSteps };
        var warmup = new Option<int>("--warmup") { Description = "Untimed warm-up steps per method and round", DefaultValueFactory = _ => d.WarmupSteps };
        var topT = new Option<int>("--top-t") { Description = "t of the sparse methods", DefaultValueFactory = _ => d.TopT };
        var rounds = new Option<int>("--rounds") { Description = "Rounds (each times every method once, order rotated); medians are reported", DefaultValueFactory = _ => d.Rounds };
        var model = new Option<string?>("--model") { Description = "Time on this checkpoint and its real finetuning batches (one fact × --batch-size paraphrases per step) instead of a fresh model on random tokens; --preset and --set then only set seed and threads (and the suite's pretraining-step shape)" };
        var data = new Option<string>("--data") { Description = "Facts for --model: embedded set name or facts file", DefaultValueFactory = _ => "new" };
        var decode = new Option<int>("--decode") { Description = "Time text generation instead: N new tokens per row, KV cache vs recomputing the prefix every step (tokens/s and their ratio, alternating rounds)" };
        var promptLen = new Option<int>("--prompt-len") { Description = "With --decode: prompt tokens of the longest row", DefaultValueFactory = _ => 16 };
        var rows = new Option<int>("--rows") { Description = "With --decode: prompts decoded together (lengths spread from --prompt-len down to half of it)", DefaultValueFactory = _ => 1 };
        var paths = new Option<string?>("--paths") { Description = "Time one method (e.g. full) with the optimised training kernels off, on, and each alone, alternating rounds (ratios to the reference kernels)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (per method: ms per round, ratios per round, medians; with --quick/--suite the suite's object) instead of the table" };
        var quick = new Option<bool>("--quick") { Description = "Run the whole suite, short: every scenario, 2 rounds, few steps (under 3 min on a quiet 2-core machine)" };
        var suite = new Option<bool>("--suite") { Description = "Run the whole suite: matmul peak, pretraining step (tokens/s, MFU), every finetuning method and the floor, memory sizes 16k–1M, background statistics, generation, peak RSS (≈ 5–10 min on a quiet 2-core machine)" };
        var output = new Option<string?>("--out") { Description = "Also write the JSON to this file (the suite's object with --quick/--suite, the decode timings with --decode, else the method table's)" };
        var warmupRounds = new Option<int?>("--warmup-rounds") { Description = "Suite: discarded warm-up rounds (default 1)" };
        var memoryKeys = new Option<int[]?>("--memory-keys") { Description = "Suite: N of the memory-size scenarios, N² slots each (default 128 256 512 1024)", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("bench", "Benchmark: finetuning step time of every method as within-round ratios to full finetuning; --decode for generation (KV cache vs reference), --paths for reference vs optimised training kernels; --quick/--suite for the whole performance suite (JSON with --out; docs/benchmarks.md). With --quick/--suite, --rounds, --steps, --warmup, --top-t, --batch-size and --seq-len override the suite's defaults only when given")
        {
            preset, sets, model, data, batch, seqLen, steps, warmup, topT, rounds, decode, promptLen, rows, paths, json, quick, suite, output, warmupRounds, memoryKeys,
        };
        cmd.SetAction(pr =>
        {
            var cfg = ConfigLoader.Load<PretrainConfig>(pr.GetValue(preset), null, pr.GetValue(sets), c => c.Validate());
            bool isSuite = pr.GetValue(quick) || pr.GetValue(suite);
            if (isSuite && (pr.GetValue(decode) != 0 || pr.GetValue(paths) is not null))
                throw new ArgumentException("--decode and --paths are separate benchmarks: drop --quick/--suite (the suite has its own generation scenario)");
            if (pr.GetValue(decode) != 0 && pr.GetValue(paths) is not null)
                throw new ArgumentException("--decode and --paths are separate benchmarks: give one of them");
            if (isSuite)
                return RunSuite(pr, cfg, pr.GetValue(quick), pr.GetValue(model), pr.GetValue(data)!, pr.GetValue(json), pr.GetValue(output),
                    (batch, seqLen, steps, warmup, topT, rounds), pr.GetValue(warmupRounds), pr.GetValue(memoryKeys));
            if (pr.GetResult(warmupRounds) is { Implicit: false } || pr.GetResult(memoryKeys) is { Implicit: false })
                throw new ArgumentException("--warmup-rounds and --memory-keys belong to the suite: add --quick or --suite");
            if (pr.GetValue(decode) != 0)
                return Decode(cfg, pr.GetValue(model), new DecodeBenchmarkOptions(pr.GetValue(decode), pr.GetValue(promptLen), pr.GetValue(rows),
                    pr.GetValue(rounds), cfg.Seed), pr.GetValue(json), pr.GetValue(output));
            var options = new StepBenchmarkOptions(pr.GetValue(batch), pr.GetValue(seqLen), pr.GetValue(warmup), pr.GetValue(steps),
                pr.GetValue(topT), pr.GetValue(rounds), cfg.Seed);
            var errors = options.Validate();
            if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));
            Runtime.Configure(cfg.Seed, cfg.Threads);
            var subject = pr.GetValue(model) is { } dir
                ? StepBenchmark.CheckpointSubject(dir, FactsFile.ReadNamedOrFile(pr.GetValue(data)!), options)
                : StepBenchmark.RandomSubject(cfg.Model, options);
            Console.Error.WriteLine($"{(pr.GetValue(model) is null ? $"model '{cfg.Name}', " : "")}{subject.Description}; {options.Rounds} rounds × " +
                $"({options.WarmupSteps} warm-up + {options.TimedSteps} timed steps) per method, {TorchSharp.torch.get_num_threads()} threads");
            string? pathsMethod = pr.GetValue(paths);
            if (pathsMethod is not null) pathsMethod = Finetuning.FinetuneMethods.Registry.Get(pathsMethod, "--paths").Name;
            var results = pathsMethod is null ? StepBenchmark.Run(subject, options, line => Console.Error.WriteLine(line))
                : StepBenchmark.RunPaths(subject, options, pathsMethod, line => Console.Error.WriteLine(line));
            var methodsJson = JsonSerializer.Serialize(new
            {
                model = pr.GetValue(model) ?? cfg.Name, subject = subject.Description, batch_size = options.BatchSize, seq_len = options.SeqLen, top_t = options.TopT, rounds = options.Rounds,
                timed_steps = options.TimedSteps, threads = TorchSharp.torch.get_num_threads(),
                methods = results.Select(r => new
                {
                    method = r.Method, ms_per_step = r.MillisecondsPerStep, ratio_to_full = r.RatioToFull,
                    median_ms = r.MedianMs, median_ratio = r.MedianRatio,
                    cpu_ms_per_step = r.CpuMillisecondsPerStep, cpu_ratio = r.CpuRatioToFull, median_cpu_ms = r.MedianCpuMs, median_cpu_ratio = r.MedianCpuRatio,
                }),
            }, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            if (pr.GetValue(output) is { } outPath) SparseMemory.Checkpoints.AtomicFile.WriteAllText(outPath, methodsJson + "\n");
            if (pr.GetValue(json))
            {
                Console.WriteLine(methodsJson);
                return 0;
            }
            var table = new Table(null, new TableColumn("method"), new TableColumn("ms/step", ColumnAlign.Right),
                new TableColumn("range", ColumnAlign.Right), new TableColumn(pathsMethod is null ? "÷ full" : "÷ reference", ColumnAlign.Right),
                new TableColumn("CPU ms/step", ColumnAlign.Right), new TableColumn("CPU ÷", ColumnAlign.Right));
            foreach (var r in results)
                table.AddRow(r.Method, TableCell.Of(r.MedianMs, "F1"),
                    string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{r.MillisecondsPerStep.Min():F1}–{r.MillisecondsPerStep.Max():F1}"),
                    TableCell.Of(r.MedianRatio, "F3"), TableCell.Of(r.MedianCpuMs, "F1"), TableCell.Of(r.MedianCpuRatio, "F3"));
            Console.Write(table.ToText());
            Console.WriteLine($"ms/step: median over rounds; ÷ {(pathsMethod is null ? "full" : "reference")}: median of the ratios measured within each round");
            return 0;
        });
        return cmd;
    }

    static int RunSuite(ParseResult pr, PretrainConfig cfg, bool quick, string? model, string data, bool json, string? output,
        (Option<int> Batch, Option<int> SeqLen, Option<int> Steps, Option<int> Warmup, Option<int> TopT, Option<int> Rounds) given,
        int? warmupRounds, int[]? memoryKeys)
    {
        // The suite's own defaults, except where an option was given on the command line.
        var o = (quick ? BenchSuiteOptions.QuickDefaults : BenchSuiteOptions.Full) with { Seed = cfg.Seed };
        int? Given(Option<int> option) => pr.GetResult(option) is { Implicit: false } ? pr.GetValue(option) : null;
        o = o with
        {
            BatchSize = Given(given.Batch) ?? o.BatchSize, SeqLen = Given(given.SeqLen) ?? o.SeqLen,
            FinetuneSteps = Given(given.Steps) ?? o.FinetuneSteps, FinetuneWarmupSteps = Given(given.Warmup) ?? o.FinetuneWarmupSteps,
            TopT = Given(given.TopT) ?? o.TopT, Rounds = Given(given.Rounds) ?? o.Rounds,
            WarmupRounds = warmupRounds ?? o.WarmupRounds, MemoryKeys = memoryKeys is { Length: > 0 } ? memoryKeys : o.MemoryKeys,
        };
        var errors = o.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));
        Runtime.Configure(cfg.Seed, cfg.Threads);
        var facts = model is null ? null : FactsFile.ReadNamedOrFile(data);
        Console.Error.WriteLine($"bench suite ({(quick ? "quick" : "full")}): {(model is null ? $"model '{cfg.Name}', random init" : model)}; " +
            $"{o.WarmupRounds} warm-up + {o.Rounds} rounds, {TorchSharp.torch.get_num_threads()} threads");
        var result = BenchSuite.Run(cfg, o, model, facts, line => Console.Error.WriteLine(line));
        if (output is not null) result.Save(output);
        if (json)
        {
            Console.WriteLine(result.ToJsonText());
            return 0;
        }
        Console.Write(result.Table.ToText());
        var j = result.Json;
        var env = j["environment"]!;
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"sparse step ÷ full step: {j["sparse_step_ratio"]}  (range {Range(j["sparse_step_ratio_range"])}); sparse step ÷ floor: {j["sparse_floor_ratio"]}  (range {Range(j["sparse_floor_ratio_range"])})"));
        Console.WriteLine($"matmul peak {j["matmul_peak_gflops"]} GFLOP/s; {env["threads"]} threads; torch {env["torch_version"]}, BLAS {env["blas"]?.ToString() ?? "unknown"}" +
            $"{(env["cpu_capability"] is { } cap ? $", {cap}" : "")}; {j["seconds"]} s");
        Console.WriteLine("median over rounds; ratios are medians of ratios formed within each round; peak RSS: " + j["rss_method"]);
        if (output is not null) Console.WriteLine($"wrote {output}");
        return 0;
    }

    static string Range(System.Text.Json.Nodes.JsonNode? range) =>
        range is System.Text.Json.Nodes.JsonArray { Count: 2 } a ? $"{a[0]}–{a[1]}" : "—";

    static int Decode(PretrainConfig cfg, string? dir, DecodeBenchmarkOptions options, bool json, string? output)
    {
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));
        Runtime.Configure(cfg.Seed, cfg.Threads);
        LanguageModel model;
        if (dir is not null) model = Checkpoint.Load(dir).Model;
        else { TorchSharp.torch.manual_seed(cfg.Seed); model = new LanguageModel(cfg.Model); }
        string subject = dir ?? $"model '{cfg.Name}' (random init)";
        Console.Error.WriteLine($"{subject}: {options.Rows} row(s), prompt ≤ {options.PromptLength} tokens, {options.NewTokens} new tokens, " +
            $"{options.Rounds} rounds, {TorchSharp.torch.get_num_threads()} threads");
        var t = DecodeBenchmark.Run(model, options, line => Console.Error.WriteLine(line));
        double refMed = DecodeTiming.Median(t.ReferenceTokensPerSecond), kvMed = DecodeTiming.Median(t.CachedTokensPerSecond);
        double speedup = DecodeTiming.Median(t.Speedup);
        var decodeJson = JsonSerializer.Serialize(new
        {
            model = subject, rows = options.Rows, prompt_len = options.PromptLength, new_tokens = options.NewTokens, rounds = options.Rounds,
            threads = TorchSharp.torch.get_num_threads(), reference_tokens_per_s = t.ReferenceTokensPerSecond,
            kv_cache_tokens_per_s = t.CachedTokensPerSecond, speedup = t.Speedup, median_speedup = speedup, tokens_identical = t.TokensIdentical,
            reference_tokens_per_cpu_s = t.ReferenceTokensPerCpuSecond, kv_cache_tokens_per_cpu_s = t.CachedTokensPerCpuSecond,
            cpu_speedup = t.CpuSpeedup, median_cpu_speedup = DecodeTiming.Median(t.CpuSpeedup),
        }, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        if (output is not null) SparseMemory.Checkpoints.AtomicFile.WriteAllText(output, decodeJson + "\n");
        if (json)
        {
            Console.WriteLine(decodeJson);
            return 0;
        }
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"reference (full prefix every step): {refMed:F1} tokens/s (median)"));
        Console.WriteLine(string.Create(inv, $"kv cache:                           {kvMed:F1} tokens/s (median)"));
        Console.WriteLine(string.Create(inv, $"speedup: {speedup:F2}× (median of within-round ratios; per CPU second {DecodeTiming.Median(t.CpuSpeedup):F2}×); tokens identical: {(t.TokensIdentical ? "yes" : "no")}"));
        return 0;
    }
}
