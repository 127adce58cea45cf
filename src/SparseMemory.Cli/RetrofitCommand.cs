using System.CommandLine;
using SparseMemory.Config;
using SparseMemory.Runs;

namespace SparseMemory.Cli;

/// <summary><c>smf retrofit</c>.</summary>
public static class RetrofitCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Dense run folder to add memory to (e.g. from smf import)", Required = true };
        var layers = new Option<string?>("--memory-layers") { Description = "Comma-separated 0-based blocks that get a memory beside their FFN, e.g. 12,18 (retrofit.layers)" };
        var slots = new Option<long?>("--slots") { Description = "Memory slots, a perfect square (retrofit.slots; default 262144 = 512²)" };
        var preset = new Option<string?>("--preset")
        {
            Description = $"Named retrofit preset ({string.Join(", ", ConfigLoader.PresetNamesOf(ConfigLoader.RetrofitPresets))})",
            DefaultValueFactory = _ => "default",
        };
        var config = CliRunner.ConfigOption();
        var sets = CliRunner.SetOption();
        var outDir = new Option<string>("--out") { Description = "Run folder to write (an existing run is resumed)", Required = true };
        var cmd = new Command("retrofit", "Add product-key memory layers beside chosen FFNs of a pretrained model (output zero at insertion), heal them on background text with the backbone frozen, rebalance them to heal.read_gain (docs/own-model.md#read-gain), and record background statistics for sparse finetuning")
        {
            model, layers, slots, preset, config, sets, outDir,
        };
        cmd.SetAction(pr =>
        {
            var overrides = new List<string>();
            if (pr.GetValue(layers) is string l)
            {
                var parts = l.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 0 || parts.Any(p => !int.TryParse(p, out _)))
                    throw new ArgumentException($"--memory-layers is \"{l}\"; give comma-separated block indices, e.g. 12,18");
                overrides.Add($"retrofit.layers=[{string.Join(",", parts)}]");
            }
            if (pr.GetValue(slots) is long s) overrides.Add($"retrofit.slots={s}");
            var userSets = pr.GetValue(sets) ?? [];
            if (userSets.FirstOrDefault(x => x.StartsWith("model", StringComparison.Ordinal) || x.StartsWith("backbone", StringComparison.Ordinal)) is { } bad)
                throw new ArgumentException($"--set {bad}: the model and backbone come from --model and retrofit.*; they cannot be set");
            var requested = ConfigLoader.Load<RetrofitConfig>(pr.GetValue(preset), pr.GetValue(config), overrides.Concat(userSets),
                presetGroup: ConfigLoader.RetrofitPresets);
            string dir = pr.GetValue(outDir)!;
            var cfg = Retrofit.Resolve(requested, pr.GetValue(model)!);
            var summary = Retrofit.Run(cfg, dir, new ConsoleObserver(cfg.Heal.LogEvery));
            string heal = summary.InitialEvalLoss is double a && summary.FinalEvalLoss is double b ? $" (held-out loss {a:F3} → {b:F3})" : "";
            string gain = summary.ReadGain is { } g ? $", read gain {g.Rebalanced:G3}" : "";
            Console.WriteLine($"done: {summary.Slots:N0}-slot memory, {summary.HealSteps} healing steps{heal}{gain}, " +
                              $"background over {summary.BackgroundBatches} batches, {summary.Seconds:F1} s; run folder {dir}");
            return 0;
        });
        return cmd;
    }
}
