using System.Text;

namespace SparseMemory.Reporting;

/// <summary>
/// The report of one run folder, drawn from its result files only: <c>metrics.jsonl</c> (required) and
/// <c>summary.json</c> (when present). Probe metrics are the keys with a '/' (<c>PROBE/METRIC</c>).
/// </summary>
public sealed class RunReport
{
    /// <summary>The run folder.</summary>
    public string RunDir { get; }

    /// <summary>The run's per-step metrics.</summary>
    public MetricsLog Metrics { get; }

    /// <summary>The run's flattened summary, or null when the folder has none.</summary>
    public IReadOnlyDictionary<string, ResultValue>? Summary { get; }

    RunReport(string runDir, MetricsLog metrics, IReadOnlyDictionary<string, ResultValue>? summary) =>
        (RunDir, Metrics, Summary) = (runDir, metrics, summary);

    /// <summary>Reads the result files of <paramref name="runDir"/>; a missing <c>metrics.jsonl</c> is a <see cref="FileNotFoundException"/>.</summary>
    public static RunReport Load(string runDir)
    {
        string metrics = Path.Combine(runDir, ResultFiles.MetricsFile);
        if (!File.Exists(metrics))
            throw new FileNotFoundException($"{metrics}: not found; is {runDir} a run folder?", metrics);
        string summary = Path.Combine(runDir, ResultFiles.SummaryFile);
        return new RunReport(runDir, ResultFiles.ReadMetrics(metrics), File.Exists(summary) ? ResultFiles.ReadSummary(summary) : null);
    }

    /// <summary>Probe metric keys (<c>PROBE/METRIC</c>) that have at least one finite value, in log order.</summary>
    public IReadOnlyList<string> ProbeKeys => Metrics.Keys.Where(k => k.Contains('/') && Metrics.Has(k)).ToList();

    /// <summary>
    /// One row for the step range, then loss, eval_loss and every probe metric: first and last finite value, their
    /// change and how many steps logged it.
    /// </summary>
    public Table MetricsTable()
    {
        var t = new Table($"run {RunDir}",
            new TableColumn("metric"), new TableColumn("first", ColumnAlign.Right), new TableColumn("last", ColumnAlign.Right),
            new TableColumn("change", ColumnAlign.Right), new TableColumn("points", ColumnAlign.Right));
        if (Metrics.Count > 0)
        {
            long first = Metrics.Rows[0].Step, last = Metrics.Rows[^1].Step;
            t.AddRow("steps", first, last, last - first, (long)Metrics.Count);
        }
        else t.AddRow("steps", TableCell.Of((double?)null), TableCell.Of((double?)null), TableCell.Of((double?)null), 0L);
        var keys = new List<string> { "loss" };
        if (Metrics.Has("eval_loss")) keys.Add("eval_loss");
        keys.AddRange(ProbeKeys);
        foreach (string k in keys)
        {
            var (f, l) = (Metrics.First(k), Metrics.Last(k));
            t.AddRow(k, TableCell.Of(f?.Value), TableCell.Of(l?.Value), TableCell.Of(l?.Value - f?.Value),
                (long)Metrics.Series(k).Steps.Length);
        }
        return t;
    }

    /// <summary>The flattened <c>summary.json</c> as key/value rows, or null when the run has no summary.</summary>
    public Table? SummaryTable()
    {
        if (Summary is null) return null;
        var t = new Table(ResultFiles.SummaryFile, new TableColumn("key"), new TableColumn("value"));
        foreach (var (k, v) in Summary)
            t.AddRow(k, v.Number is double d ? TableCell.Of(d, "G6") : TableCell.Of(v.ToString()));
        return t;
    }

    /// <summary>
    /// Writes into <paramref name="outDir"/>: <c>loss.png/.svg</c> (loss, and eval_loss when logged) and, per probe,
    /// <c>probe-NAME.png/.svg</c> with its metrics over steps, each through <paramref name="write"/>. Returns the files written.
    /// </summary>
    public IReadOnlyList<PlotFiles> WritePlots(string outDir, FileWriter write)
    {
        var files = new List<PlotFiles>();
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(RunDir)));
        var lossSeries = new[] { "loss", "eval_loss" }.Where(Metrics.Has).Select(Series).ToList();
        if (lossSeries.Count > 0)
            files.Add(Plots.Line(Path.Combine(outDir, "loss"), new PlotLabels($"Loss — {name}", "step", "loss"), lossSeries, write));
        foreach (var probe in ProbeKeys.GroupBy(k => k[..k.IndexOf('/')]))
        {
            var series = probe.Select(k => Series(k) with { Name = k[(probe.Key.Length + 1)..] }).ToList();
            files.Add(Plots.Line(Path.Combine(outDir, "probe-" + SafeFileName(probe.Key)),
                new PlotLabels($"Probe {probe.Key} — {name}", "step", "value"), series, write));
        }
        return files;
    }

    PlotSeries Series(string key)
    {
        var (x, y) = Metrics.Series(key);
        return new PlotSeries(key, x, y);
    }

    static string SafeFileName(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        return sb.Length == 0 ? "_" : sb.ToString();
    }
}
