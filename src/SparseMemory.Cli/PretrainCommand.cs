using SparseMemory.Runs;
using System.CommandLine;
using SparseMemory.Config;
using SparseMemory.Training;

namespace SparseMemory.Cli;

/// <summary><c>smf pretrain</c>.</summary>
public static class PretrainCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var preset = CliRunner.PresetOption("tiny");
        var config = CliRunner.ConfigOption();
        var sets = CliRunner.SetOption();
        var outDir = new Option<string>("--out") { Description = "Run folder (becomes the checkpoint; an existing run is resumed)", Required = true };
        var cmd = new Command("pretrain", "Pretrain a memory-layer language model (tokenizer + model) into a run folder")
        {
            preset, config, sets, outDir,
        };
        cmd.SetAction(pr =>
        {
            var cfg = ConfigLoader.Load<PretrainConfig>(pr.GetValue(preset), pr.GetValue(config), pr.GetValue(sets), c => c.Validate());
            var s = Pretraining.Run(cfg, pr.GetValue(outDir)!, new ConsoleObserver(cfg.Train.LogEvery));
            Console.WriteLine($"done: {s.Steps} steps, held-out loss {s.InitialEvalLoss:F3} → {s.FinalEvalLoss:F3}, {s.Seconds:F1} s; checkpoint in {pr.GetValue(outDir)}");
            return 0;
        });
        return cmd;
    }
}
