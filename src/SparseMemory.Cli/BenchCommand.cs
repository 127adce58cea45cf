using System.CommandLine;
using SparseMemory.Config;
using SparseMemory.Training;

namespace SparseMemory.Cli;

/// <summary><c>smf bench</c>: step time of each finetuning method on one model and batch shape, as ratios to full finetuning.</summary>
public static class BenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var preset = CliRunner.PresetOption("demo");
        var sets = CliRunner.SetOption();
        var batch = new Option<int>("--batch-size") { Description = "Sequences per step (the finetuning paraphrase count)", DefaultValueFactory = _ => 16 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence", DefaultValueFactory = _ => 32 };
        var steps = new Option<int>("--steps") { Description = "Timed steps per method", DefaultValueFactory = _ => 30 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed warm-up steps per method", DefaultValueFactory = _ => 5 };
        var topT = new Option<int>("--top-t") { Description = "t of the sparse methods", DefaultValueFactory = _ => 128 };
        var cmd = new Command("bench", "Benchmark finetuning step time: sparse memory finetuning vs full finetuning vs LoRA (ratios from one run)")
        {
            preset, sets, batch, seqLen, steps, warmup, topT,
        };
        cmd.SetAction(pr =>
        {
            var cfg = ConfigLoader.Load<ExperimentConfig>(pr.GetValue(preset), null, pr.GetValue(sets), c => c.Validate());
            if (pr.GetValue(steps) <= 0 || pr.GetValue(warmup) <= 0) throw new ArgumentException("--steps and --warmup must be ≥ 1");
            Runtime.Configure(cfg.Seed, cfg.Threads);
            Console.Error.WriteLine($"model '{cfg.Name}', batch {pr.GetValue(batch)} × {pr.GetValue(seqLen)}, {pr.GetValue(warmup)} warm-up + {pr.GetValue(steps)} timed steps per method, {torch_threads()} threads");
            var results = StepBenchmark.Run(cfg.Model, pr.GetValue(batch), pr.GetValue(seqLen), pr.GetValue(warmup), pr.GetValue(steps), pr.GetValue(topT), cfg.Seed);
            double full = results[0].MillisecondsPerStep;
            Console.WriteLine($"{"method",-34} {"ms/step",10} {"÷ full",8}");
            foreach (var r in results) Console.WriteLine($"{r.Method,-34} {r.MillisecondsPerStep,10:F1} {r.MillisecondsPerStep / full,8:F3}");
            return 0;
        });
        return cmd;
    }

    static int torch_threads() => TorchSharp.torch.get_num_threads();
}
