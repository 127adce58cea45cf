using System.CommandLine;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data.Facts;
using SparseMemory.Model;
using SparseMemory.Reporting;
using SparseMemory.Runs;

namespace SparseMemory.Cli;

/// <summary>
/// <c>smf demo</c>: the project in one command. Builds (or reuses) a small base model, shows new facts it does not know,
/// teaches a stream of them with sparse memory finetuning, full finetuning and LoRA, then shows the same questions
/// answered and what each method learned and forgot (the <c>demo</c> experiment preset).
/// </summary>
public static class DemoCommand
{
    const int Shown = 3;

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var sets = CliRunner.SetOption();
        var outDir = new Option<string>("--out") { Description = "Demo folder (reused when run again: finished steps are skipped)", DefaultValueFactory = _ => Path.Combine("runs", "demo") };
        var cmd = new Command("demo", "Teach a small model new facts with sparse memory finetuning, full finetuning and LoRA, and show what each learned and forgot (≈ 10 minutes on 2 quiet cores)")
        {
            sets, outDir,
        };
        cmd.SetAction(pr =>
        {
            string dir = pr.GetValue(outDir)!;
            var cfg = ExperimentRun.LoadConfig("demo", null, pr.GetValue(sets));
            string logPath = Path.Combine(dir, "demo.log");
            using var observer = new LogFileObserver(logPath, new ConsoleObserver(100));
            Console.WriteLine("SparseMemory demo: continual learning by sparse memory finetuning (Lin et al. 2025)\n");
            Console.WriteLine($"1. A small language model with a {Describe(cfg)} product-key memory layer, pretrained on the embedded corpus");
            Console.WriteLine($"   and the embedded 'known' facts (reused from {ExperimentRun.BaseDir(cfg, dir)} when present).\n");
            var (_, runs) = ExperimentRun.Prepare(cfg, dir, observer);
            observer.Open();
            string baseDir = ExperimentRun.BaseDir(cfg, dir);
            var (_, facts) = FinetuneRun.Resolve(runs[0].Config);
            var shown = facts.Take(Shown).ToList();
            Console.WriteLine($"\n2. It has never seen these facts; asked their questions it answers:");
            var before = Answers(baseDir, shown);
            for (int i = 0; i < shown.Count; i++)
                Console.WriteLine($"   Q: {shown[i].Question}\n      model: {before[i]}   (true answer: {shown[i].Object})");
            var stream = runs[0].Config.Data;
            Console.WriteLine($"\n3. Teaching it {facts.Count} new facts, {stream.StepsPerItem} steps per fact, each step a batch of {stream.Paraphrases} lines: paraphrased");
            Console.WriteLine("   statements and self-quiz questions generated from them — never the questions asked above and below");
            Console.WriteLine($"   (docs/method.md#protocol). With each method (every evaluation line goes to {logPath}):");
            foreach (var r in runs) Console.WriteLine($"   {r.Entry,-8} {Describe(r)}");
            var report = ExperimentRun.Execute(runs, dir, observer);
            Console.WriteLine("\n4. The same questions afterwards:");
            var after = runs.ToDictionary(r => r.Entry, r => Answers(ExperimentRun.RunDir(dir, r), shown));
            for (int i = 0; i < shown.Count; i++)
            {
                Console.WriteLine($"   Q: {shown[i].Question}   (true answer: {shown[i].Object})");
                foreach (var r in runs) Console.WriteLine($"      {r.Entry,-8} {after[r.Entry][i]}");
            }
            Console.WriteLine("\n5. What each method learned and what it forgot (probes before and after the stream):\n");
            var table = new Table(null, new TableColumn("method"), new TableColumn("learned: new-fact F1", ColumnAlign.Right),
                new TableColumn("forgot: known-facts drop", ColumnAlign.Right), new TableColumn("known-facts F1", ColumnAlign.Right),
                new TableColumn("held-out NLL change", ColumnAlign.Right), new TableColumn("answer NLL (nats/token)", ColumnAlign.Right));
            foreach (var (entry, c) in report.Selected)
                table.AddRow(entry,
                    Arrow(c.Mean("before", ExperimentReport.TargetF1), c.Mean("after", ExperimentReport.TargetF1), "F2"),
                    TableCell.Of(c.RelativeDrop("known-facts-f1/f1", true), "P0"),
                    Arrow(c.Mean("before", "known-facts-f1/f1"), c.Mean("after", "known-facts-f1/f1"), "F2"),
                    TableCell.Of(c.RelativeDrop("heldout-nll/nll_per_token", false), "P1"),
                    Arrow(c.Mean("before", ExperimentReport.TargetNll), c.Mean("after", ExperimentReport.TargetNll), "F2"));
            Console.Write(table.ToText());
            Console.WriteLine("\n   Sparse memory finetuning updates only the memory rows this fact uses far more than ordinary text does");
            Console.WriteLine("   (TF-IDF against background statistics) and freezes everything else; compare the drop columns to see what that");
            Console.WriteLine("   kept. A drop is the fraction of the before-value lost (for the NLL, the fractional increase).");
            Console.WriteLine($"\nReport: {Path.Combine(dir, "report.md")}; plots (PNG and SVG): {Path.Combine(dir, "plots")}; every evaluation line: {logPath}");
            Console.WriteLine($"Next: smf experiment --preset small --out runs/small (the full comparison), smf finetune --help");
            return 0;
        });
        return cmd;
    }

    static string Arrow(double before, double after, string format) =>
        $"{before.ToString(format, System.Globalization.CultureInfo.InvariantCulture)} → {after.ToString(format, System.Globalization.CultureInfo.InvariantCulture)}";

    static string Describe(ExperimentConfig cfg)
    {
        var m = ExperimentRun.BaseConfig(cfg).Model.Memory;
        return m is null ? "no" : $"{(long)m.NumKeys * m.NumKeys:N0}-slot";
    }

    static string Describe(ExperimentRunSpec r)
    {
        var spec = Finetuning.FinetuneMethods.Spec(r.Config);
        return $"{spec.Label(r.Config)}, lr {Finetuning.FinetuneMethods.EffectiveLr(r.Config):G3}: {spec.Description}";
    }

    /// <summary>Greedy answers of a checkpoint to the facts' questions, in the QA format the probes use.</summary>
    static string[] Answers(string checkpoint, IReadOnlyList<Fact> facts)
    {
        var loaded = Checkpoint.Load(checkpoint);
        var sampling = new SamplingOptions(MaxTokens: 12, Temperature: 0, StopAtEos: true, StopAtNewline: true);
        var answers = TextGenerator.GenerateBatch(loaded.Model, loaded.Tokenizer, facts.Select(f => QaFormat.Prompt(f.Question)).ToList(), sampling, 16)
            .Select(a => a.Trim() is { Length: > 0 } t ? t : "(nothing)").ToArray();
        loaded.Model.Dispose();
        return answers;
    }
}
