using System.CommandLine;
using SparseMemory.Reporting;

namespace SparseMemory.Cli;

/// <summary><c>smf report --run DIR [--out DIR] [--markdown]</c>: tables and plots of a run folder, from its result files.</summary>
public static class ReportCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var run = new Option<string>("--run") { Description = "Run folder (holds metrics.jsonl; summary.json is read when present)", Required = true };
        var outDir = new Option<string?>("--out") { Description = "Folder for the plots (PNG and SVG; default: RUN/report)" };
        var markdown = new Option<bool>("--markdown") { Description = "Print the tables as GitHub Markdown" };
        var cmd = new Command("report", "Summarize a run folder: a table of loss and probe metrics, and plots of them over steps")
        {
            run, outDir, markdown,
        };
        cmd.SetAction(pr =>
        {
            string dir = pr.GetValue(run)!;
            var report = RunReport.Load(dir);
            bool md = pr.GetValue(markdown);
            var tables = new[] { report.MetricsTable(), report.SummaryTable() }.OfType<Table>();
            Console.Write(string.Join("\n", tables.Select(t => md ? t.ToMarkdown() : t.ToText())));
            string plots = pr.GetValue(outDir) ?? Path.Combine(dir, "report");
            foreach (var f in report.WritePlots(plots)) Console.Error.WriteLine($"wrote {f.Png} and {f.Svg}");
            return 0;
        });
        return cmd;
    }
}
