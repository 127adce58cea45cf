using SparseMemory.Data.Facts;
using SparseMemory.Runs;
using System.CommandLine;
using SparseMemory.Config;
using SparseMemory.Finetuning;

namespace SparseMemory.Cli;

/// <summary>
/// <c>smf finetune</c>. Every flag is a shortcut for a key of the finetune config (defaults → the base model's recipe →
/// <c>--config</c> → flags → <c>--set</c>), so a value is checked by the config's validation only.
/// </summary>
public static class FinetuneCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Base checkpoint folder", Required = true };
        var method = new Option<string?>("--method") { Description = $"What may change: {FinetuneMethods.Registry.CliChoices} (default {Registry<FinetuneMethodSpec>.CliName(new FinetuneConfig().Method)}; key method)" };
        var topT = new Option<int?>("--top-t") { Description = "sparse: value rows updated per step (t; key sparse.top_t)" };
        var lr = new Option<double?>("--lr") { Description = "Learning rate (default: the method's measured default; see docs/baselines.md; key lr)" };
        var ranker = new Option<string?>("--ranker") { Description = $"sparse: slot ranking, {SlotRankers.Registry.CliChoices} (key sparse.ranker)" };
        var background = new Option<string?>("--background") { Description = "sparse: background statistics file (default: MODEL/background.safetensors; key sparse.background)" };
        var task = TaskOption();
        var data = new Option<string?>("--data") { Description = "Facts to learn: a facts JSONL(.gz) file, or the embedded sets 'new' (default) / 'known' (key data.facts); with --task documents: a JSONL ({\"text\"} per line), .txt or .md file or a folder of them, or 'new' (the embedded articles, default; key data.documents)" };
        var questions = new Option<string?>("--questions") { Description = "--task documents: the questions the target probe asks, a TriviaQA-format JSONL (context, answer, aliases); default: the embedded articles' own (key data.questions)" };
        var steps = new Option<int?>("--steps") { Description = "Optimizer steps (default 0: one pass, one step per fact × data.steps_per_item; key steps)" };
        var outDir = new Option<string>("--out") { Description = "Run folder (checkpoint in the pretrain layout; an existing run resumes); not needed with --dry-run" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the batches the run would train on (each paraphrase or augmented line, its strategy, tokens and padding) and exit without training" };
        var show = new Option<int>("--show") { Description = "--dry-run: how many steps to print", DefaultValueFactory = _ => 3 };
        var config = CliRunner.ConfigOption();
        var sets = CliRunner.SetOption();
        var cmd = new Command("finetune", "Learn a stream of facts with sparse memory finetuning or a baseline (full, LoRA)")
        {
            model, method, topT, lr, ranker, background, task, data, questions, steps, outDir, dryRun, show, config, sets,
        };
        cmd.SetAction(pr =>
        {
            var overrides = new List<string>();
            CliRunner.Flag(pr, overrides, method, "method");
            CliRunner.Flag(pr, overrides, topT, "sparse.top_t");
            CliRunner.Flag(pr, overrides, lr, "lr");
            CliRunner.Flag(pr, overrides, ranker, "sparse.ranker");
            CliRunner.Flag(pr, overrides, background, "sparse.background");
            CliRunner.Flag(pr, overrides, task, "data.task");
            CliRunner.Flag(pr, overrides, questions, "data.questions");
            CliRunner.Flag(pr, overrides, steps, "steps");
            overrides.AddRange(pr.GetValue(sets) ?? []);
            var cfg = FinetuneRun.LoadConfig(pr.GetValue(model)!, pr.GetValue(config), overrides, pr.GetValue(data));
            if (pr.GetValue(dryRun))
            {
                foreach (var b in FinetuneRun.Preview(cfg, pr.GetValue(show)))
                {
                    if (b.Chunk is not null)
                    {
                        // The document stream: the chunk, then every line with the strategy that made it.
                        Console.WriteLine($"step {b.Step}: chunk {b.FactId} ({b.Rows.Count} lines, padded to {b.PaddedLength} tokens, {b.Rows.Sum(row => row.PadTokens)} pad tokens; by strategy: {string.Join(", ", b.Rows.GroupBy(row => row.Strategy).Select(g => $"{g.Key} {g.Count()}"))})");
                        Console.WriteLine($"  chunk: {b.Chunk.Replace("\n", "\\n")}");
                        foreach (var row in b.Rows)
                            Console.WriteLine($"  [{row.Strategy,-10}] [{(row.Kind == LineKind.Question ? "question " : "statement")}] [{row.Tokens.Count,3} tok + {row.PadTokens,2} pad] {row.Text.Replace("\n", "\\n")}\n      from: {row.Origin}");
                        continue;
                    }
                    Console.WriteLine($"step {b.Step}: fact {b.FactId} — evaluation question (held out): {b.Question}  A: {b.Answer}  ({b.Rows.Count} lines, {b.Rows.Count(row => row.Kind == LineKind.Question)} questions, padded to {b.PaddedLength} tokens, {b.Rows.Sum(row => row.PadTokens)} pad tokens)");
                    foreach (var row in b.Rows)
                        Console.WriteLine($"  [{(row.Kind == LineKind.Question ? "question " : "statement")}] [{row.Tokens.Count,3} tok + {row.PadTokens,2} pad] {row.Text.Replace("\n", "\\n")}\n      from: {row.Origin}\n      {string.Join(" ", row.Tokens.Select(t => "|" + t.Replace("Ġ", "␣")))}|");
                }
                return 0;
            }
            string dir = pr.GetValue(outDir) ?? throw new ConfigException("--out is required (the run folder), unless --dry-run");
            var summary = FinetuneRun.Run(cfg, dir, new ConsoleObserver(10));
            Console.WriteLine($"done: {summary.Method}, {summary.Steps} steps on {summary.Facts} {(cfg.Data.IsDocuments() ? "questions' documents" : "facts")}, loss {summary.FirstLoss:F3} → {summary.LastLoss:F3}, {summary.Seconds:F1} s; checkpoint in {dir}");
            return 0;
        });
        return cmd;
    }

    /// <summary><c>--task facts|documents</c>, shared with <c>smf coreset</c>.</summary>
    public static Option<string?> TaskOption() => new("--task")
    {
        Description = $"What to learn: {string.Join(" | ", StreamConfig.Tasks)} (data.task; documents: docs/documents.md)",
    };
}
