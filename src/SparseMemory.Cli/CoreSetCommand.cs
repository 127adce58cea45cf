using System.CommandLine;
using System.Globalization;
using SparseMemory.Config;
using SparseMemory.Reporting;
using SparseMemory.Runs;

namespace SparseMemory.Cli;

/// <summary><c>smf coreset</c>: the core set of sampled facts and the smallest t that teaches each one.</summary>
public static class CoreSetCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Base checkpoint folder (with background.safetensors for TF-IDF)", Required = true };
        var task = FinetuneCommand.TaskOption();
        var data = new Option<string?>("--data") { Description = "Facts: embedded set name, facts JSONL or TriviaQA-format JSONL (default: new); with --task documents: documents as smf finetune takes them" };
        var questions = new Option<string?>("--questions") { Description = "--task documents: the questions (TriviaQA format); default: the embedded articles' own" };
        var facts = new Option<int>("--facts") { Description = "Facts to analyse (the first of the shuffled stream)", DefaultValueFactory = _ => 10 };
        var ts = new Option<string>("--top-t") { Description = "Comma-separated t values tried when learning each fact alone", DefaultValueFactory = _ => "16,64,256,1024" };
        var steps = new Option<int?>("--steps") { Description = "Steps when learning each fact alone (default: the model's steps per fact, data.steps_per_item)" };
        var outFile = new Option<string?>("--out") { Description = "Also write one JSON line per fact to this file" };
        var sets = CliRunner.SetOption();
        var cmd = new Command("coreset", "Core sets of facts: rows every paraphrase reads, how many the question reads, the t covering them, the smallest t that teaches the fact")
        {
            model, task, data, questions, facts, ts, steps, outFile, sets,
        };
        cmd.SetAction(pr =>
        {
            // The base model's finetuning recipe for sparse (paraphrases, question share, lr, …) first, as smf finetune does.
            var overrides = new List<string>();
            CliRunner.Flag(pr, overrides, task, "data.task");
            CliRunner.Flag(pr, overrides, questions, "data.questions");
            overrides.AddRange(pr.GetValue(sets) ?? []);
            var cfg = FinetuneRun.LoadConfig(pr.GetValue(model)!, null, overrides, pr.GetValue(data));
            int[] topTs;
            try { topTs = pr.GetValue(ts)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); }
            catch (FormatException) { throw new ConfigException($"--top-t: expected comma-separated integers, got \"{pr.GetValue(ts)}\""); }
            int stepsAlone = pr.GetValue(steps) ?? cfg.Data.StepsPerItem;
            var rows = CoreSetReport.Run(cfg, new CoreSetOptions(pr.GetValue(facts), topTs, stepsAlone), line => Console.Error.WriteLine(line));
            var table = new Table(null, new TableColumn("fact"), new TableColumn("answer"), new TableColumn("rows read", ColumnAlign.Right),
                new TableColumn("core", ColumnAlign.Right), new TableColumn("core ∩ question", ColumnAlign.Right),
                new TableColumn("t covering core", ColumnAlign.Right), new TableColumn("min t answered", ColumnAlign.Right));
            foreach (var r in rows)
                table.AddRow(r.FactId, r.Answer, (long)r.UnionSlots, (long)r.CoreSlots, (long)r.CoreAlsoReadByQuestion, (long)r.TCoveringCore,
                    r.MinTAnswered is int m ? m.ToString(CultureInfo.InvariantCulture) : $"> {topTs.Max()}");
            Console.Write(table.ToText());
            if (pr.GetValue(outFile) is { } path) CoreSetReport.Save(path, rows);
            return 0;
        });
        return cmd;
    }
}
