using SparseMemory.Runs;
using System.CommandLine;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Model;
using SparseMemory.Training;

namespace SparseMemory.Cli;

/// <summary><c>smf demo</c>: pretrain a small memory-layer model on the embedded corpus, show the loss falling and a sample.</summary>
public static class DemoCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var preset = CliRunner.PresetOption("demo");
        var sets = CliRunner.SetOption();
        var outDir = new Option<string>("--out") { Description = "Run folder", DefaultValueFactory = _ => Path.Combine("runs", "demo") };
        var cmd = new Command("demo", "Pretrain a small memory-layer model on the embedded corpus (a few minutes) and generate from it")
        {
            preset, sets, outDir,
        };
        cmd.SetAction(pr =>
        {
            var cfg = ConfigLoader.Load<ExperimentConfig>(pr.GetValue(preset), null, pr.GetValue(sets), c => c.Validate());
            string dir = pr.GetValue(outDir)!;
            Console.WriteLine($"SparseMemory demo: pretraining preset '{cfg.Name}' into {dir}");
            var s = Pretraining.Run(cfg, dir, new ConsoleObserver(cfg.Train.LogEvery));
            Console.WriteLine($"held-out loss: {s.InitialEvalLoss:F3} at step 0 → {s.FinalEvalLoss:F3} after {s.Steps} steps ({s.Seconds:F0} s)");
            var loaded = Checkpoint.Load(dir);
            foreach (string prompt in new[] { "The history of", "It was a dark" })
            {
                string text = TextGenerator.Generate(loaded.Model, loaded.Tokenizer, prompt, new SamplingOptions(40, Temperature: 0.8, TopP: 0.9, Seed: 7));
                Console.WriteLine($"sample: {prompt}{text.ReplaceLineEndings(" ")}");
            }
            return 0;
        });
        return cmd;
    }
}
