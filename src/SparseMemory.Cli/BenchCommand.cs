using SparseMemory.Reporting;
using SparseMemory.Runs;
using System.CommandLine;
using System.Text.Json;
using SparseMemory.Data.Facts;
using SparseMemory.Config;
using SparseMemory.Training;
using SparseMemory.Model;
using SparseMemory.Checkpoints;

namespace SparseMemory.Cli;

/// <summary><c>smf bench</c>: step time of each finetuning method on one model and batch shape, as ratios to full finetuning.</summary>
public static class BenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var preset = CliRunner.PresetOption("demo");
        var sets = CliRunner.SetOption();
        var d = new StepBenchmarkOptions();
        var batch = new Option<int>("--batch-size") { Description = "Sequences per step (the finetuning paraphrase count)", DefaultValueFactory = _ => d.BatchSize };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence (fact paraphrase batches of the base model average ~32)", DefaultValueFactory = _ => d.SeqLen };
        var steps = new Option<int>("--steps") { Description = "Timed steps per method and round", DefaultValueFactory = _ => d.TimedSteps };
        var warmup = new Option<int>("--warmup") { Description = "Untimed warm-up steps per method and round", DefaultValueFactory = _ => d.WarmupSteps };
        var topT = new Option<int>("--top-t") { Description = "t of the sparse methods", DefaultValueFactory = _ => d.TopT };
        var rounds = new Option<int>("--rounds") { Description = "Rounds (each times every method once, order rotated); medians are reported", DefaultValueFactory = _ => d.Rounds };
        var model = new Option<string?>("--model") { Description = "Time on this checkpoint and its real finetuning batches (one fact × --batch-size paraphrases per step) instead of a fresh model on random tokens; --preset and --set then only set seed and threads" };
        var data = new Option<string>("--data") { Description = "Facts for --model: embedded set name or facts file", DefaultValueFactory = _ => "new" };
        var decode = new Option<int>("--decode") { Description = "Time text generation instead: N new tokens per row, KV cache vs recomputing the prefix every step (tokens/s and their ratio, alternating rounds)" };
        var promptLen = new Option<int>("--prompt-len") { Description = "With --decode: prompt tokens of the longest row", DefaultValueFactory = _ => 16 };
        var rows = new Option<int>("--rows") { Description = "With --decode: prompts decoded together (lengths spread from --prompt-len down to half of it)", DefaultValueFactory = _ => 1 };
        var paths = new Option<string?>("--paths") { Description = "Time one method (e.g. full) with the optimised training kernels off, on, and each alone, alternating rounds (ratios to the reference kernels)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (per method: ms per round, ratios per round, medians) instead of the table" };
        var cmd = new Command("bench", "Benchmark finetuning step time: sparse memory finetuning vs full finetuning vs LoRA, as within-round ratios to full finetuning")
        {
            preset, sets, model, data, batch, seqLen, steps, warmup, topT, rounds, decode, promptLen, rows, paths, json,
        };
        cmd.SetAction(pr =>
        {
            var cfg = ConfigLoader.Load<ExperimentConfig>(pr.GetValue(preset), null, pr.GetValue(sets), c => c.Validate());
            if (pr.GetValue(decode) != 0)
                return Decode(cfg, pr.GetValue(model), new DecodeBenchmarkOptions(pr.GetValue(decode), pr.GetValue(promptLen), pr.GetValue(rows),
                    pr.GetValue(rounds), cfg.Seed), pr.GetValue(json));
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
            if (pr.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    model = pr.GetValue(model) ?? cfg.Name, subject = subject.Description, batch_size = options.BatchSize, seq_len = options.SeqLen, top_t = options.TopT, rounds = options.Rounds,
                    timed_steps = options.TimedSteps, threads = TorchSharp.torch.get_num_threads(),
                    methods = results.Select(r => new
                    {
                        method = r.Method, ms_per_step = r.MillisecondsPerStep, ratio_to_full = r.RatioToFull,
                        median_ms = r.MedianMs, median_ratio = r.MedianRatio,
                        cpu_ms_per_step = r.CpuMillisecondsPerStep, cpu_ratio = r.CpuRatioToFull, median_cpu_ms = r.MedianCpuMs, median_cpu_ratio = r.MedianCpuRatio,
                    }),
                }, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
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

    static int Decode(ExperimentConfig cfg, string? dir, DecodeBenchmarkOptions options, bool json)
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
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                model = subject, rows = options.Rows, prompt_len = options.PromptLength, new_tokens = options.NewTokens, rounds = options.Rounds,
                threads = TorchSharp.torch.get_num_threads(), reference_tokens_per_s = t.ReferenceTokensPerSecond,
                kv_cache_tokens_per_s = t.CachedTokensPerSecond, speedup = t.Speedup, median_speedup = speedup, tokens_identical = t.TokensIdentical,
                reference_tokens_per_cpu_s = t.ReferenceTokensPerCpuSecond, kv_cache_tokens_per_cpu_s = t.CachedTokensPerCpuSecond,
                cpu_speedup = t.CpuSpeedup, median_cpu_speedup = DecodeTiming.Median(t.CpuSpeedup),
            }, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            return 0;
        }
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"reference (full prefix every step): {refMed:F1} tokens/s (median)"));
        Console.WriteLine(string.Create(inv, $"kv cache:                           {kvMed:F1} tokens/s (median)"));
        Console.WriteLine(string.Create(inv, $"speedup: {speedup:F2}× (median of within-round ratios; per CPU second {DecodeTiming.Median(t.CpuSpeedup):F2}×); tokens identical: {(t.TokensIdentical ? "yes" : "no")}"));
        return 0;
    }
}
