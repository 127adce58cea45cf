using System.CommandLine;
using SparseMemory.Config;
using SparseMemory.Finetuning;

namespace SparseMemory.Cli;

/// <summary><c>smf finetune</c>.</summary>
public static class FinetuneCommand
{
    static readonly string[] Methods = ["sparse", "memory-all", "full", "lora"];
    static readonly string[] Rankers = ["tf-idf", "tf-only", "kl", "random", "all-accessed"];

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Base checkpoint folder", Required = true };
        var method = new Option<string>("--method") { Description = $"What may change: {string.Join(" | ", Methods)}", DefaultValueFactory = _ => "sparse" };
        var topT = new Option<int?>("--top-t") { Description = "sparse: value rows updated per step (t)" };
        var lr = new Option<double?>("--lr") { Description = "Learning rate (default: the method's measured default; see README)" };
        var ranker = new Option<string?>("--ranker") { Description = $"sparse: slot ranking, {string.Join(" | ", Rankers)}" };
        var background = new Option<string?>("--background") { Description = "sparse: background statistics file (default: MODEL/background.safetensors)" };
        var data = new Option<string?>("--data") { Description = "Facts to learn: a facts JSONL(.gz) file, or the embedded sets 'new' (default) / 'known'" };
        var steps = new Option<int?>("--steps") { Description = "Optimizer steps (default: one step per fact)" };
        var outDir = new Option<string>("--out") { Description = "Run folder (checkpoint in the pretrain layout; an existing run resumes)", Required = true };
        var config = CliRunner.ConfigOption();
        var sets = CliRunner.SetOption();
        var cmd = new Command("finetune", "Learn a stream of facts with sparse memory finetuning or a baseline (full, LoRA)")
        {
            model, method, topT, lr, ranker, background, data, steps, outDir, config, sets,
        };
        cmd.SetAction(pr =>
        {
            var overrides = new List<string> { $"base_model={pr.GetValue(model)}", $"method={EnumValue(pr.GetValue(method)!, Methods, "--method")}" };
            if (pr.GetValue(topT) is int t) overrides.Add($"sparse.top_t={t}");
            if (pr.GetValue(lr) is double l) overrides.Add($"lr={l.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
            if (pr.GetValue(ranker) is string r) overrides.Add($"sparse.ranker={EnumValue(r, Rankers, "--ranker")}");
            if (pr.GetValue(background) is string bg) overrides.Add($"sparse.background={bg}");
            if (pr.GetValue(data) is string d) overrides.Add($"data.facts={d}");
            if (pr.GetValue(steps) is int s) overrides.Add($"steps={s}");
            overrides.AddRange(pr.GetValue(sets) ?? []);
            var cfg = ConfigLoader.Load<FinetuneConfig>(null, pr.GetValue(config), overrides);
            string dir = pr.GetValue(outDir)!;
            var summary = FinetuneRun.Run(cfg, dir, new ConsoleObserver(10));
            Console.WriteLine($"done: {summary.Method}, {summary.Steps} steps on {summary.Facts} facts, loss {summary.FirstLoss:F3} → {summary.LastLoss:F3}, {summary.Seconds:F1} s; checkpoint in {dir}");
            return 0;
        });
        return cmd;
    }

    /// <summary>Maps a CLI spelling (e.g. memory-all, tf-idf) to the config's snake_case enum value, or fails clearly.</summary>
    internal static string EnumValue(string value, string[] allowed, string option)
    {
        string norm = value.Trim().ToLowerInvariant().Replace('_', '-');
        if (norm == "tfidf") norm = "tf-idf";
        if (!allowed.Contains(norm)) throw new ConfigException($"{option}: unknown value \"{value}\"; use one of {string.Join(", ", allowed)}");
        return norm.Replace('-', '_');
    }
}
