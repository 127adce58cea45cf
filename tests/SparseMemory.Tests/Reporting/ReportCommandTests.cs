using System.Globalization;
using SparseMemory.Reporting;
using Xunit;

namespace SparseMemory.Tests.Reporting;

public sealed class ReportCommandTests
{
    /// <summary>A run folder with a synthetic metrics.jsonl: loss every step, probes every 5 steps, eval_loss at the ends.</summary>
    static string WriteRun(int steps = 20, bool summary = false)
    {
        string run = Path.Combine(Fixtures.TempDir("reporting"), "run");
        Directory.CreateDirectory(run);
        var lines = new List<string>();
        for (int s = 0; s <= steps; s++)
        {
            var fields = new List<string> { $"\"step\":{s}", $"\"loss\":{F(4.0 - 0.1 * s)}", $"\"grad_norm\":{(s == 0 ? "null" : "1.5")}" };
            if (s > 0) fields.Add($"\"lr\":0.001,\"tokens_per_s\":{F(900 + s)}");
            if (s % 5 == 0)
                fields.Add($"\"target-f1/f1\":{F(0.04 * s)},\"target-f1/exact_match\":{F(0.02 * s)},\"known-facts-f1/f1\":{F(0.9 - 0.01 * s)}");
            if (s == 0 || s == steps) fields.Add($"\"eval_loss\":{F(4.2 - 0.1 * s)}");
            lines.Add("{" + string.Join(",", fields) + "}");
        }
        File.WriteAllText(Path.Combine(run, ResultFiles.MetricsFile), string.Join("\n", lines) + "\n");
        if (summary)
            File.WriteAllText(Path.Combine(run, ResultFiles.SummaryFile),
                "{\"method\":\"sparse\",\"steps\":20,\"probes\":{\"target-f1/f1\":0.8}}");
        return run;
    }

    static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    static string[] Cells(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Report_of_a_run_replaces_its_plots_by_rename()
    {
        string run = WriteRun();
        string report = Path.Combine(run, "report");
        var files = new[] { "loss", "probe-target-f1", "probe-known-facts-f1" }
            .SelectMany(n => new[] { Path.Combine(report, n + ".png"), Path.Combine(report, n + ".svg") }).ToArray();
        PlotTests.AssertWrittenByRename(files, () =>
        {
            var (code, _, err) = Smf.Run("report", "--run", run);
            Assert.True(code == 0, err);
        });
    }

    [Fact]
    public void Report_prints_the_table_and_writes_plots()
    {
        string run = WriteRun();
        var (code, output, err) = Smf.Run("report", "--run", run);
        Assert.True(code == 0, err);
        var lines = output.Split('\n');
        Assert.Equal(["metric", "first", "last", "change", "points"], Cells(lines.Single(l => l.StartsWith("metric"))));
        Assert.Equal(["steps", "0", "20", "20", "21"], Cells(lines.Single(l => l.StartsWith("steps"))));
        Assert.Equal(["loss", "4", "2", "-2", "21"], Cells(lines.Single(l => l.StartsWith("loss"))));
        Assert.Equal(["eval_loss", "4.2", "2.2", "-2", "2"], Cells(lines.Single(l => l.StartsWith("eval_loss"))));
        Assert.Equal(["target-f1/f1", "0", "0.8", "0.8", "5"], Cells(lines.Single(l => l.StartsWith("target-f1/f1"))));
        Assert.Equal(["known-facts-f1/f1", "0.9", "0.7", "-0.2", "5"], Cells(lines.Single(l => l.StartsWith("known-facts-f1/f1"))));
        Assert.DoesNotContain(lines, l => l.StartsWith("grad_norm") || l.StartsWith("lr"));
        Assert.DoesNotContain("summary.json", output);
        string report = Path.Combine(run, "report");
        foreach (string name in new[] { "loss", "probe-target-f1", "probe-known-facts-f1" })
        {
            Assert.Contains(Path.Combine(report, name + ".png"), err);
            PlotTests.AssertPlotFiles(new PlotFiles(Path.Combine(report, name + ".png"), Path.Combine(report, name + ".svg")));
        }
        Assert.Equal(6, Directory.GetFiles(report).Length);
        PlotTests.AssertPlotFiles(new PlotFiles(Path.Combine(report, "probe-target-f1.png"), Path.Combine(report, "probe-target-f1.svg")),
            "f1", "exact_match", "step");
    }

    [Fact]
    public void Markdown_report_includes_the_summary_and_honours_out()
    {
        string run = WriteRun(summary: true);
        string outDir = Path.Combine(Fixtures.TempDir("reporting"), "plots");
        var (code, output, err) = Smf.Run("report", "--run", run, "--out", outDir, "--markdown");
        Assert.True(code == 0, err);
        Assert.Contains("| metric | first | last | change | points |\n| :--- | ---: | ---: | ---: | ---: |\n| steps | 0 | 20 | 20 | 21 |\n", output);
        Assert.Contains("| known-facts-f1/f1 | 0.9 | 0.7 | -0.2 | 5 |", output);
        Assert.Contains("**summary.json**", output);
        Assert.Contains("| probes/target-f1/f1 | 0.8 |", output);
        Assert.Contains("| method | sparse |", output);
        Assert.True(File.Exists(Path.Combine(outDir, "loss.png")));
        Assert.True(File.Exists(Path.Combine(outDir, "loss.svg")));
        Assert.False(Directory.Exists(Path.Combine(run, "report")));
    }

    [Fact]
    public void Loss_only_run_gets_no_probe_plots()
    {
        string run = Path.Combine(Fixtures.TempDir("reporting"), "run");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, ResultFiles.MetricsFile), "{\"step\":0,\"loss\":2.5}\n{\"step\":1,\"loss\":2.25}\n");
        var (code, output, err) = Smf.Run("report", "--run", run);
        Assert.True(code == 0, err);
        Assert.Equal(["loss", "2.5", "2.25", "-0.25", "2"], Cells(output.Split('\n').Single(l => l.StartsWith("loss"))));
        Assert.Equal(["loss.png", "loss.svg"], Directory.GetFiles(Path.Combine(run, "report")).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Missing_metrics_is_a_one_line_error_naming_the_path()
    {
        string run = Fixtures.TempDir("reporting");
        var (code, _, err) = Smf.Run("report", "--run", run);
        Assert.Equal(2, code);
        Assert.StartsWith("error: ", err);
        Assert.Contains(Path.Combine(run, "metrics.jsonl"), err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(run, "report")));
    }

    [Fact]
    public void Bad_metrics_line_is_an_error_naming_file_and_line()
    {
        string run = WriteRun(steps: 3);
        File.AppendAllText(Path.Combine(run, ResultFiles.MetricsFile), "{\"step\":4,\"loss\":\n");
        var (code, _, err) = Smf.Run("report", "--run", run);
        Assert.Equal(2, code);
        Assert.Contains($"{Path.Combine(run, "metrics.jsonl")}:5:", err);
    }
}
