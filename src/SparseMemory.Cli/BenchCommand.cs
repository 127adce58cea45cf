using System.CommandLine;
using SparseMemory.Benchmarks;
using SparseMemory.Checkpoints;
using SparseMemory.Config;

namespace SparseMemory.Cli;

/// <summary>
/// <c>smf bench</c>: by default the step time of each finetuning method on one model and batch shape, as ratios to full
/// finetuning (the method table); with <c>--quick</c> or <c>--suite</c> the whole performance suite (<see cref="BenchSuite"/>).
/// Every flag is a shortcut for a key of <see cref="BenchConfig"/> (defaults → <c>--config</c> → flags → <c>--set</c>);
/// <see cref="BenchRun"/> runs it and assembles the result; <c>--out FILE</c> writes it with the config frozen beside it.
/// </summary>
public static class BenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var d = new BenchConfig();
        var s = new StepBenchmarkOptions();
        // No option has a default here: the defaults live in BenchConfig and the benchmarks, so a flag overrides --config only when given.
        var preset = new Option<string?>("--preset") { Description = $"Pretraining preset of the model timed, and of seed and threads ({string.Join(", ", ConfigLoader.PresetNames)}; default {d.BasePreset}; key base_preset)" };
        var batch = new Option<int?>("--batch-size") { Description = $"Sequences per step (the finetuning paraphrase count; default {s.BatchSize}; key batch_size)" };
        var seqLen = new Option<int?>("--seq-len") { Description = $"Tokens per sequence (fact paraphrase batches of the base model average ~32; default {s.SeqLen}; key seq_len)" };
        var steps = new Option<int?>("--steps") { Description = $"Timed steps per method and round (default {s.TimedSteps}; key steps)" };
        var warmup = new Option<int?>("--warmup") { Description = $"Untimed warm-up steps per method and round (default {s.WarmupSteps}; key warmup)" };
        var topT = new Option<int?>("--top-t") { Description = $"t of the sparse methods (default {s.TopT}; key top_t)" };
        var rounds = new Option<int?>("--rounds") { Description = $"Rounds (each times every method once, order rotated); medians are reported (default {s.Rounds}; key rounds)" };
        var model = new Option<string?>("--model") { Description = "Time on this checkpoint and its real finetuning batches (one fact × --batch-size paraphrases per step) instead of a fresh model on random tokens; --preset and base.* then only set seed and threads (and the suite's pretraining-step shape) (key model)" };
        var data = new Option<string?>("--data") { Description = $"Facts for --model: embedded set name or facts file (default {d.Data}; key data)" };
        var decode = new Option<int?>("--decode") { Description = "Time text generation instead: N new tokens per row, KV cache vs recomputing the prefix every step (tokens/s and their ratio, alternating rounds; key decode)" };
        var promptLen = new Option<int?>("--prompt-len") { Description = $"With --decode: prompt tokens of the longest row (default {new DecodeBenchmarkOptions().PromptLength}; key prompt_len)" };
        var rows = new Option<int?>("--rows") { Description = $"With --decode: prompts decoded together (lengths spread from --prompt-len down to half of it; default {new DecodeBenchmarkOptions().Rows}; key rows)" };
        var paths = new Option<string?>("--paths") { Description = "Time one method (e.g. full) with the optimised training kernels off, on, and each alone, alternating rounds (ratios to the reference kernels; key paths)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (per method: ms per round, ratios per round, medians; with --quick/--suite the suite's object) instead of the table" };
        var quick = new Option<bool?>("--quick") { Description = "Run the whole suite, short: every scenario, 2 rounds, few steps (under 3 min on a quiet 2-core machine; key quick)" };
        var suite = new Option<bool?>("--suite") { Description = "Run the whole suite: matmul peak, pretraining step (tokens/s, MFU), every finetuning method and the floor, memory sizes 16k–1M, background statistics, generation, peak RSS (≈ 5–10 min on a quiet 2-core machine; key suite)" };
        var output = new Option<string?>("--out") { Description = "Also write the JSON to this file (the suite's object with --quick/--suite, the decode timings with --decode, else the method table's), with the resolved config frozen beside it as NAME-config.json" };
        var warmupRounds = new Option<int?>("--warmup-rounds") { Description = $"Suite: discarded warm-up rounds (default {BenchSuiteOptions.Full.WarmupRounds}; key warmup_rounds)" };
        var memoryKeys = new Option<int[]?>("--memory-keys") { Description = $"Suite: N of the memory-size scenarios, N² slots each (default {string.Join(" ", BenchSuiteOptions.Full.MemoryKeys)}; key memory_keys)", AllowMultipleArgumentsPerToken = true };
        var config = CliRunner.ConfigOption();
        var sets = CliRunner.SetOption();
        var cmd = new Command("bench", "Benchmark: finetuning step time of every method as within-round ratios to full finetuning; --decode for generation (KV cache vs reference), --paths for reference vs optimised training kernels; --quick/--suite for the whole performance suite (JSON with --out; docs/benchmarks.md). With --quick/--suite, --rounds, --steps, --warmup, --top-t, --batch-size and --seq-len override the suite's defaults only when given")
        {
            preset, config, sets, model, data, batch, seqLen, steps, warmup, topT, rounds, decode, promptLen, rows, paths, json, quick, suite, output, warmupRounds, memoryKeys,
        };
        cmd.SetAction(pr =>
        {
            var overrides = new List<string>();
            CliRunner.Flag(pr, overrides, preset, "base_preset");
            CliRunner.Flag(pr, overrides, model, "model");
            CliRunner.Flag(pr, overrides, data, "data");
            CliRunner.Flag(pr, overrides, batch, "batch_size");
            CliRunner.Flag(pr, overrides, seqLen, "seq_len");
            CliRunner.Flag(pr, overrides, steps, "steps");
            CliRunner.Flag(pr, overrides, warmup, "warmup");
            CliRunner.Flag(pr, overrides, topT, "top_t");
            CliRunner.Flag(pr, overrides, rounds, "rounds");
            CliRunner.Flag(pr, overrides, decode, "decode");
            CliRunner.Flag(pr, overrides, promptLen, "prompt_len");
            CliRunner.Flag(pr, overrides, rows, "rows");
            CliRunner.Flag(pr, overrides, paths, "paths");
            CliRunner.Flag(pr, overrides, quick, "quick");
            CliRunner.Flag(pr, overrides, suite, "suite");
            CliRunner.Flag(pr, overrides, warmupRounds, "warmup_rounds");
            CliRunner.Flag(pr, overrides, memoryKeys, "memory_keys");
            overrides.AddRange(pr.GetValue(sets) ?? []);
            var cfg = BenchRun.LoadConfig(pr.GetValue(config), overrides);
            var outcome = BenchRun.Run(cfg, line => Console.Error.WriteLine(line));
            string? frozen = pr.GetValue(output) is { } path ? BenchRun.Save(cfg, outcome, path) : null;
            if (pr.GetValue(json))
            {
                Console.WriteLine(outcome.IsSuite ? ResultFile.Text(outcome.Json) : ResultFile.Line(outcome.Json));
                return 0;
            }
            Console.Write(outcome.Text);
            if (frozen is not null) Console.WriteLine($"wrote {pr.GetValue(output)} (config: {frozen})");
            return 0;
        });
        return cmd;
    }
}
