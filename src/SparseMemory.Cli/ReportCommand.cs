using System.CommandLine;
using SparseMemory.Checkpoints;
using SparseMemory.Reporting;

namespace SparseMemory.Cli;

/// <summary><c>smf report --run DIR [--out DIR] [--markdown]</c>: tables and plots of a run folder, from its result files.</summary>
public static class ReportCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var dirArg = new Argument<string?>("DIR") { Description = "An experiment folder (holds results.jsonl) or a run folder", Arity = ArgumentArity.ZeroOrOne };
        var run = new Option<string?>("--run") { Description = "Run folder (holds metrics.jsonl; summary.json is read when present)" };
        var outDir = new Option<string?>("--out") { Description = "Folder for the plots (PNG and SVG; default: RUN/report)" };
        var markdown = new Option<bool>("--markdown") { Description = "Print the tables as GitHub Markdown" };
        var cmd = new Command("report", "Re-render a report from files alone: an experiment folder (summary.json, report.md, plots) or a run folder (tables and plots of its metrics)")
        {
            dirArg, run, outDir, markdown,
        };
        cmd.SetAction(pr =>
        {
            string dir = pr.GetValue(dirArg) ?? pr.GetValue(run) ?? throw new ArgumentException("name a folder: smf report DIR (or --run DIR)");
            if (File.Exists(Path.Combine(dir, ExperimentReport.ResultsFile)))
            {
                var experiment = ExperimentReport.Load(dir);
                var files = experiment.Render(pr.GetValue(outDir) ?? dir, AtomicFile.Write);
                Console.Write(pr.GetValue(markdown) ? experiment.Markdown() : experiment.Markdown().Split("## Every configuration")[0]);
                Console.Error.WriteLine($"wrote {files.Count} files (summary.json, report.md, plots/)");
                return 0;
            }
            var report = RunReport.Load(dir);
            bool md = pr.GetValue(markdown);
            var tables = new[] { report.MetricsTable(), report.SummaryTable() }.OfType<Table>();
            Console.Write(string.Join("\n", tables.Select(t => md ? t.ToMarkdown() : t.ToText())));
            string plots = pr.GetValue(outDir) ?? Path.Combine(dir, "report");
            foreach (var f in report.WritePlots(plots, AtomicFile.Write)) Console.Error.WriteLine($"wrote {f.Png} and {f.Svg}");
            return 0;
        });
        return cmd;
    }
}
