using SparseMemory.Data.Facts;
using SparseMemory.Runs;
using System.CommandLine;
using SparseMemory.Config;
using SparseMemory.Finetuning;

namespace SparseMemory.Cli;

/// <summary><c>smf finetune</c>.</summary>
public static class FinetuneCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Base checkpoint folder", Required = true };
        var method = new Option<string>("--method") { Description = $"What may change: {FinetuneMethods.Registry.CliChoices}", DefaultValueFactory = _ => Registry<FinetuneMethodSpec>.CliName(FinetuneMethods.Registry.All[0].Name) };
        var topT = new Option<int?>("--top-t") { Description = "sparse: value rows updated per step (t)" };
        var lr = new Option<double?>("--lr") { Description = "Learning rate (default: the method's measured default; see README)" };
        var ranker = new Option<string?>("--ranker") { Description = $"sparse: slot ranking, {SlotRankers.Registry.CliChoices}" };
        var background = new Option<string?>("--background") { Description = "sparse: background statistics file (default: MODEL/background.safetensors)" };
        var task = TaskOption();
        var data = new Option<string?>("--data") { Description = "Facts to learn: a facts JSONL(.gz) file, or the embedded sets 'new' (default) / 'known'; with --task documents: a JSONL ({\"text\"} per line), .txt or .md file or a folder of them, or 'new' (the embedded articles, default)" };
        var questions = new Option<string?>("--questions") { Description = "--task documents: the questions the target probe asks, a TriviaQA-format JSONL (context, answer, aliases); default: the embedded articles' own" };
        var steps = new Option<int?>("--steps") { Description = "Optimizer steps (default: one step per fact)" };
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
            string methodName = FinetuneMethods.Registry.Get(pr.GetValue(method), "--method").Name;
            // The base model's recipe first (its measured defaults), then everything the user chose.
            var overrides = new List<string>(FinetuneRecipe.For(pr.GetValue(model)!, methodName))
                { $"base_model={pr.GetValue(model)}", $"method={methodName}" };
            if (pr.GetValue(lr) is double lrValue && (!double.IsFinite(lrValue) || lrValue < 0))
                throw new ArgumentException($"--lr is {lrValue}; it must be a finite number ≥ 0 (omit it for the method's default)");
            if (pr.GetValue(steps) is int stepsValue && stepsValue < 1)
                throw new ArgumentException($"--steps is {stepsValue}; it must be ≥ 1 if given (omit it for one step per fact)");
            foreach (string set in pr.GetValue(sets) ?? [])
                if (set.StartsWith("model.", StringComparison.Ordinal) || set.StartsWith("model=", StringComparison.Ordinal))
                    throw new ConfigException($"--set {set.Split('=')[0]}: the model section of a finetuning run comes from the base checkpoint ({Path.Combine(pr.GetValue(model)!, "config.json")}) and cannot be set; finetune another base model instead");
            if (pr.GetValue(topT) is int t)
            {
                long slots = SparseMemory.Checkpoints.Checkpoint.ReadModelConfig(pr.GetValue(model)!).Model.Memory?.Slots ?? 0;
                if (t > slots && slots > 0)
                    throw new ArgumentException($"--top-t is {t} but the base model has {slots} memory slots; pass --top-t between 1 and {slots}");
                overrides.Add($"sparse.top_t={t}");
            }
            if (pr.GetValue(lr) is double l) overrides.Add($"lr={l.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
            if (pr.GetValue(ranker) is string r) overrides.Add($"sparse.ranker={SlotRankers.Registry.Get(r, "--ranker").Name}");
            if (pr.GetValue(background) is string bg) overrides.Add($"sparse.background={bg}");
            if (pr.GetValue(steps) is int s) overrides.Add($"steps={s}");
            var cfg = LoadWithData(pr.GetValue(config), overrides, pr.GetValue(sets), pr.GetValue(task), pr.GetValue(data), pr.GetValue(questions));
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

    /// <summary>
    /// Loads a finetune config and applies <c>--task</c>, then <c>--data</c> to the key of the task in effect (data.facts, or
    /// data.documents for the document stream, whether the task came from --task, --set or a config file) and
    /// <c>--questions</c> to data.questions.
    /// </summary>
    public static FinetuneConfig LoadWithData(string? file, List<string> overrides, IEnumerable<string>? sets, string? task, string? data, string? questions)
    {
        if (task is not null)
        {
            if (!StreamConfig.Tasks.Contains(task)) throw new ConfigException($"--task is \"{task}\"; use {string.Join(" or ", StreamConfig.Tasks)}");
            overrides.Add($"data.task={task}");
        }
        var all = overrides.Concat(sets ?? []).ToList();
        var cfg = ConfigLoader.Load<FinetuneConfig>(null, file, all);
        if (data is null && questions is null) return cfg;
        if (questions is not null && !cfg.Data.IsDocuments()) throw new ConfigException("--questions goes with --task documents (for facts, the questions come with the facts)");
        var withData = new List<string>(overrides);
        if (data is not null) withData.Add($"{(cfg.Data.IsDocuments() ? "data.documents" : "data.facts")}={data}");
        if (questions is not null) withData.Add($"data.questions={questions}");
        return ConfigLoader.Load<FinetuneConfig>(null, file, withData.Concat(sets ?? []));
    }
}
