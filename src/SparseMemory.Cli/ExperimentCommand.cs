using System.CommandLine;
using SparseMemory.Config;
using SparseMemory.Runs;

namespace SparseMemory.Cli;

/// <summary><c>smf experiment</c>: every method over its grid on the same fact stream, with a report and plots.</summary>
public static class ExperimentCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var preset = new Option<string?>("--preset")
        {
            Description = $"Experiment preset (presets/experiments): {string.Join(", ", ConfigLoader.PresetNamesOf(ConfigLoader.ExperimentPresets))}; default {ExperimentRun.DefaultPreset} unless --config is given (a file then builds on the defaults alone)",
        };
        var config = CliRunner.ConfigOption();
        var sets = CliRunner.SetOption();
        var outDir = new Option<string>("--out") { Description = "Experiment folder (base/, runs/, results.jsonl, summary.json, report.md, plots/); an existing one resumes", Required = true };
        var plan = new Option<bool>("--plan") { Description = "List the runs the experiment would do and exit" };
        var cmd = new Command("experiment", "Compare finetuning methods on a stream of facts: learning (target F1, answer NLL) vs forgetting, over grids and seeds")
        {
            preset, config, sets, outDir, plan,
        };
        cmd.SetAction(pr =>
        {
            var cfg = ExperimentRun.LoadConfig(pr.GetValue(preset), pr.GetValue(config), pr.GetValue(sets));
            string dir = pr.GetValue(outDir)!;
            if (pr.GetValue(plan))
            {
                var runs = ExperimentRun.Plan(cfg, dir);
                foreach (var r in runs) Console.WriteLine(r.Id);
                Console.WriteLine($"{runs.Count} runs");
                return 0;
            }
            var report = ExperimentRun.Run(cfg, dir, new ConsoleObserver(50));
            Console.Write(report.Headline());
            Console.WriteLine($"report: {Path.Combine(dir, "report.md")}, plots in {Path.Combine(dir, "plots")}");
            return 0;
        });
        return cmd;
    }
}
