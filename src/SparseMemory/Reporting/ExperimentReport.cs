using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SparseMemory.Reporting;

/// <summary>One configuration of an experiment (a grid point), its runs over seeds averaged.</summary>
/// <param name="Entry">Grid entry (the method, or the entry's label for ablations).</param>
/// <param name="Method">Finetuning method.</param>
/// <param name="Label">Short description of the configuration.</param>
/// <param name="Params">Swept keys and values.</param>
/// <param name="Runs">The rows of its runs (one per seed).</param>
public sealed record ExperimentConfigResult(string Entry, string Method, string Label, IReadOnlyDictionary<string, string> Params,
    IReadOnlyList<IReadOnlyDictionary<string, ResultValue>> Runs)
{
    /// <summary>Key of the configuration: entry and swept values.</summary>
    public string Key => Entry + (Params.Count == 0 ? "" : " " + string.Join(" ", Params.Select(kv => $"{kv.Key}={kv.Value}")));

    /// <summary>Mean over seeds of <c>before/METRIC</c> or <c>after/METRIC</c>.</summary>
    public double Mean(string when, string metric) => Values(when, metric).DefaultIfEmpty(double.NaN).Average();

    /// <summary>Finite values over seeds.</summary>
    public double[] Values(string when, string metric) =>
        Runs.Select(r => r.Number($"{when}/{metric}")).OfType<double>().Where(double.IsFinite).ToArray();

    /// <summary>Mean over seeds of the relative drop of a metric: the fraction of its before-value lost (for a
    /// lower-is-better metric such as an NLL, the fractional increase). Positive = worse after.</summary>
    public double RelativeDrop(string metric, bool higherIsBetter)
    {
        var drops = Runs.Select(r => ExperimentReport.Drop(r.Number($"before/{metric}"), r.Number($"after/{metric}"), higherIsBetter))
            .Where(double.IsFinite).ToArray();
        return drops.Length == 0 ? double.NaN : drops.Average();
    }
}

/// <summary>
/// The report of an experiment folder, drawn from its files alone (<c>results.jsonl</c> and each run's
/// <c>metrics.jsonl</c>): <c>summary.json</c>, <c>report.md</c> and plots (PNG + SVG). <c>smf report DIR</c> re-renders it.
/// <para>Learning is the target-F1 probe (<c>target-f1/f1</c>, and its answer NLL); forgetting is every other probe's
/// relative drop. Each method is represented by its best configuration <i>at matched learning</i>: the learning level
/// L is the lowest of the methods' best mean target F1; among a method's configurations that reach L, the one that
/// forgets least (mean relative drop over the forgetting probes) is chosen. When no method answers anything (L = 0),
/// learning is matched the same way on the reduction of the taught answers' NLL, which moves long before F1 does.</para>
/// </summary>
public sealed class ExperimentReport
{
    /// <summary>One row per finished run, written by the experiment job.</summary>
    public const string ResultsFile = "results.jsonl";
    /// <summary>The learning metric.</summary>
    public const string TargetF1 = "target-f1/f1";
    /// <summary>The learning metric on the likelihood axis (per-token NLL of the answers of the taught facts).</summary>
    public const string TargetNll = "target-f1/answer_nll";

    readonly string _dir;

    ExperimentReport(string dir, string name, IReadOnlyList<ExperimentConfigResult> configs, IReadOnlyDictionary<string, bool> directions)
    {
        _dir = dir;
        Name = name;
        Configs = configs;
        ForgettingMetrics = directions.Where(kv => !kv.Key.StartsWith("target-f1/", StringComparison.Ordinal)).Select(kv => kv.Key).ToArray();
        Directions = directions;
        MatchedTargetF1 = Level(configs, c => Nz(c.Mean("after", TargetF1)));
        // When no method answers anything (F1 level 0), learning is matched on the likelihood axis instead.
        LearningAxis = MatchedTargetF1 > 0 ? "target_f1" : "answer_nll_reduction";
        Func<ExperimentConfigResult, double> learned = MatchedTargetF1 > 0 ? c => Nz(c.Mean("after", TargetF1)) : NllReduction;
        MatchedLearning = MatchedTargetF1 > 0 ? MatchedTargetF1 : Level(configs, NllReduction);
        Selected = configs.GroupBy(c => c.Entry).ToDictionary(g => g.Key, g =>
            g.Where(c => learned(c) >= MatchedLearning - 1e-12)
             .OrderBy(Forgetting).ThenByDescending(learned).ThenBy(c => c.Key, StringComparer.Ordinal).First());
    }

    /// <summary>Experiment name.</summary>
    public string Name { get; }
    /// <summary>Every configuration, in results order.</summary>
    public IReadOnlyList<ExperimentConfigResult> Configs { get; }
    /// <summary>Headline metric keys of the forgetting probes.</summary>
    public IReadOnlyList<string> ForgettingMetrics { get; }
    /// <summary>Metric key → whether higher is better.</summary>
    public IReadOnlyDictionary<string, bool> Directions { get; }
    /// <summary>The matched learning level on the F1 axis (lowest of the entries' best mean target F1).</summary>
    public double MatchedTargetF1 { get; }
    /// <summary>The axis learning is matched on: <c>target_f1</c>, or <c>answer_nll_reduction</c> when no entry answers anything.</summary>
    public string LearningAxis { get; }
    /// <summary>The matched level on <see cref="LearningAxis"/>.</summary>
    public double MatchedLearning { get; }

    static double Level(IEnumerable<ExperimentConfigResult> configs, Func<ExperimentConfigResult, double> learned) =>
        configs.GroupBy(c => c.Entry).Select(g => g.Max(learned)).DefaultIfEmpty(0).Min();

    /// <summary>Mean reduction of the taught answers' per-token NLL (nats; positive = learned).</summary>
    public static double NllReduction(ExperimentConfigResult c) => Nz(c.Mean("before", TargetNll) - c.Mean("after", TargetNll));
    /// <summary>The configuration that represents each grid entry.</summary>
    public IReadOnlyDictionary<string, ExperimentConfigResult> Selected { get; }

    /// <summary>Reads an experiment folder.</summary>
    /// <exception cref="FileNotFoundException">No <c>results.jsonl</c>.</exception>
    public static ExperimentReport Load(string dir)
    {
        string path = Path.Combine(dir, ResultsFile);
        var rows = ResultFiles.ReadJsonl(path);
        if (rows.Count == 0) throw new InvalidDataException($"{path}: no finished runs yet");
        var directions = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var row in rows)
            foreach (var (k, v) in row)
                if (k.StartsWith("direction/", StringComparison.Ordinal)) directions[k["direction/".Length..]] = v.Text == "higher";
        var configs = rows.GroupBy(r => (Entry: r.Text("entry") ?? "?", Label: r.Text("label") ?? "", Params: ParamsOf(r)))
            .Select(g => new ExperimentConfigResult(g.Key.Entry, g.First().Text("method") ?? g.Key.Entry, g.Key.Label,
                g.First().Where(kv => kv.Key.StartsWith("params/", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["params/".Length..], kv => kv.Value.ToString()),
                g.ToList()))
            .ToList();
        string name = Path.GetFileName(Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar));
        return new ExperimentReport(dir, name, configs, directions);
    }

    static string ParamsOf(IReadOnlyDictionary<string, ResultValue> r) =>
        string.Join(";", r.Where(kv => kv.Key.StartsWith("params/", StringComparison.Ordinal)).Select(kv => $"{kv.Key}={kv.Value}"));

    /// <summary>Relative drop of a metric (positive = worse after); NaN when undefined.</summary>
    public static double Drop(double? before, double? after, bool higherIsBetter)
    {
        if (before is not double b || after is not double a || !double.IsFinite(a) || !double.IsFinite(b)) return double.NaN;
        if (b == 0) return higherIsBetter ? (a == 0 ? 0 : double.NaN) : double.NaN;
        return higherIsBetter ? (b - a) / Math.Abs(b) : (a - b) / Math.Abs(b);
    }

    /// <summary>Mean relative drop over the forgetting probes (the selection criterion).</summary>
    public double Forgetting(ExperimentConfigResult c)
    {
        var d = ForgettingMetrics.Select(m => c.RelativeDrop(m, Directions[m])).Where(double.IsFinite).ToArray();
        return d.Length == 0 ? 0 : d.Average();
    }

    static double Nz(double v) => double.IsFinite(v) ? v : 0;

    /// <summary>The summary object (<c>summary.json</c>): per grid entry its selected configuration, target F1 and probes.</summary>
    public JsonObject Summary()
    {
        var methods = new JsonObject();
        foreach (var (entry, c) in Selected)
        {
            var probes = new JsonObject();
            foreach (var (metric, higher) in Directions)
            {
                string probe = metric.Split('/')[0];
                probes[probe] = new JsonObject
                {
                    ["metric"] = metric.Split('/')[1],
                    ["before"] = Json(c.Mean("before", metric)),
                    ["after"] = Json(c.Mean("after", metric)),
                    ["relative_drop"] = Json(c.RelativeDrop(metric, higher)),
                    ["higher_is_better"] = higher,
                };
            }
            var f1s = c.Values("after", TargetF1);
            methods[entry] = new JsonObject
            {
                ["method"] = c.Method,
                ["config"] = c.Label,
                ["params"] = new JsonObject(c.Params.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                ["seeds"] = c.Runs.Count,
                ["target_f1"] = Json(c.Mean("after", TargetF1)),
                ["target_f1_min"] = Json(f1s.DefaultIfEmpty(double.NaN).Min()),
                ["target_f1_max"] = Json(f1s.DefaultIfEmpty(double.NaN).Max()),
                ["target_answer_nll"] = new JsonObject { ["before"] = Json(c.Mean("before", TargetNll)), ["after"] = Json(c.Mean("after", TargetNll)) },
                ["forgetting"] = Json(Forgetting(c)),
                ["probes"] = probes,
            };
        }
        return new JsonObject
        {
            ["name"] = Name,
            ["matched_target_f1"] = Json(MatchedTargetF1),
            ["learning_axis"] = LearningAxis,
            ["matched_learning"] = Json(MatchedLearning),
            ["selection"] = "per method: among configurations reaching the matched learning level (the lowest of the methods' best, on target F1, or on the answer-NLL reduction when no method answers anything), the one with the least mean relative drop over the forgetting probes",
            ["runs"] = Configs.Sum(c => c.Runs.Count),
            ["configurations"] = Configs.Count,
            ["methods"] = methods,
        };
    }

    static JsonNode? Json(double v) => double.IsFinite(v) ? JsonValue.Create(Math.Round(v, 6)) : null;

    /// <summary>The Markdown report: <see cref="Headline"/>, then every configuration and the plots.</summary>
    public string Markdown() => Headline() + Details();

    /// <summary>
    /// The head of the report, what <c>smf experiment</c> prints when it finishes: the matched learning level, the
    /// selected configuration per method and its probes before and after.
    /// </summary>
    public string Headline()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(c, $"# Experiment `{Name}`\n\n");
        int seeds = Configs.Max(x => x.Runs.Count);
        sb.Append(c, $"{Configs.Count} configurations, {Configs.Sum(x => x.Runs.Count)} runs ({seeds} seed{(seeds > 1 ? "s" : "")} each). ");
        sb.Append(LearningAxis == "target_f1"
            ? string.Create(c, $"Matched learning level (lowest of the methods' best mean target F1): **{MatchedLearning:F3}**. ")
            : string.Create(c, $"No method answers the taught questions (target F1 0 everywhere), so learning is matched on the answer-NLL reduction: **{MatchedLearning:F3}** nats/token. "));
        sb.Append("Each method is shown at the configuration that reaches it and forgets least. Relative drop: fraction of the ");
        sb.Append("before-value lost (for NLLs, the fractional increase); positive = forgot.\n\n");
        var summary = new Table(null,
            new[] { new TableColumn("method"), new TableColumn("configuration"), new TableColumn("target F1", ColumnAlign.Right),
                    new TableColumn("F1 range", ColumnAlign.Right), new TableColumn("answer NLL", ColumnAlign.Right) }
                .Concat(ForgettingMetrics.Select(m => new TableColumn($"{m} drop", ColumnAlign.Right))));
        foreach (var (entry, x) in Selected)
        {
            var f1 = x.Values("after", TargetF1);
            var cells = new List<TableCell>
            {
                entry, x.Label, TableCell.Of(x.Mean("after", TargetF1), "F3"),
                f1.Length > 1 ? string.Create(c, $"{f1.Min():F3}–{f1.Max():F3}") : "",
                string.Create(c, $"{x.Mean("before", TargetNll):F2} → {x.Mean("after", TargetNll):F2}"),
            };
            cells.AddRange(ForgettingMetrics.Select(m => TableCell.Of(x.RelativeDrop(m, Directions[m]) * 100, "F1")));
            summary.AddRow(cells.ToArray());
        }
        sb.Append("## Learning vs forgetting (selected configuration per method)\n\n").Append(summary.ToMarkdown()).Append("\nDrops in %.\n\n");
        foreach (var (entry, x) in Selected)
        {
            var t = new Table(null, new TableColumn("probe"), new TableColumn("before", ColumnAlign.Right), new TableColumn("after", ColumnAlign.Right),
                new TableColumn("relative drop", ColumnAlign.Right));
            foreach (var (metric, higher) in Directions)
                t.AddRow(metric, TableCell.Of(x.Mean("before", metric), "G4"), TableCell.Of(x.Mean("after", metric), "G4"),
                    TableCell.Of(x.RelativeDrop(metric, higher), "P1"));
            sb.Append(c, $"### {entry}: {x.Label}\n\n").Append(t.ToMarkdown()).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The rest of the report: every configuration, then the plots.</summary>
    string Details()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var all = new Table(null, new[] { new TableColumn("configuration"), new TableColumn("seeds", ColumnAlign.Right),
                new TableColumn("target F1", ColumnAlign.Right), new TableColumn("answer NLL after", ColumnAlign.Right) }
            .Concat(ForgettingMetrics.Select(m => new TableColumn($"{m} drop %", ColumnAlign.Right))));
        foreach (var x in Configs)
            all.AddRow(new TableCell[] { x.Key, (long)x.Runs.Count, TableCell.Of(x.Mean("after", TargetF1), "F3"), TableCell.Of(x.Mean("after", TargetNll), "F3") }
                .Concat(ForgettingMetrics.Select(m => TableCell.Of(x.RelativeDrop(m, Directions[m]) * 100, "F1"))).ToArray());
        sb.Append("## Every configuration\n\n").Append(all.ToMarkdown()).Append('\n');
        sb.Append("## Plots\n\n");
        foreach (string p in PlotNames()) sb.Append(c, $"![{p}](plots/{p}.png)\n");
        return sb.ToString();
    }

    IEnumerable<string> PlotNames()
    {
        foreach (var m in ForgettingMetrics) { yield return $"pareto-f1-{Slug(m)}"; yield return $"pareto-nll-{Slug(m)}"; }
        yield return "learning-curve-f1";
        yield return "learning-curve-nll";
        foreach (var m in ForgettingMetrics) yield return $"forgetting-curve-{Slug(m)}";
        foreach (string key in AgainstKeys()) yield return $"against-{Slug(key)}";
    }

    const string TopTKey = "sparse.top_t";

    /// <summary>Numeric swept keys worth a plot of learning and forgetting against them: t, and every swept base key (e.g. memory size).</summary>
    IEnumerable<string> AgainstKeys() =>
        Configs.SelectMany(x => x.Params.Keys).Distinct().Where(k => k == TopTKey || k.StartsWith("base.", StringComparison.Ordinal))
            .Where(k => Configs.Where(x => x.Params.ContainsKey(k)).Select(x => x.Params[k]).Distinct().Count() > 1
                        && Configs.Where(x => x.Params.ContainsKey(k)).All(x => double.TryParse(x.Params[k], NumberStyles.Float, CultureInfo.InvariantCulture, out _)))
            .Order(StringComparer.Ordinal);

    /// <summary>Per grid entry, the best-learning configuration at each value of <paramref name="key"/>: its target F1 and its mean forgetting.</summary>
    string Against(string plots, string key, FileWriter write)
    {
        var series = Configs.Where(x => x.Params.ContainsKey(key)).GroupBy(x => x.Entry).SelectMany(g =>
        {
            var pts = g.GroupBy(x => double.Parse(x.Params[key], CultureInfo.InvariantCulture)).OrderBy(q => q.Key).Select(q =>
            {
                var best = q.OrderByDescending(x => Nz(x.Mean("after", TargetF1))).ThenByDescending(NllReduction).First();
                return (X: q.Key, F1: best.Mean("after", TargetF1), Forget: Forgetting(best));
            }).ToList();
            return new[]
            {
                new PlotSeries($"{g.Key}: target F1", pts.Select(p => p.X).ToArray(), pts.Select(p => p.F1).ToArray()),
                new PlotSeries($"{g.Key}: mean relative drop", pts.Select(p => p.X).ToArray(), pts.Select(p => p.Forget).ToArray()),
            };
        });
        string what = key == TopTKey ? "t (value rows updated per step)" : key["base.".Length..];
        return Plots.Line(Path.Combine(plots, $"against-{Slug(key)}"), new PlotLabels($"Learning and forgetting against {what}", what, "target F1 / mean relative drop"), series, write).Png;
    }

    static string Slug(string s) => new(s.Select(ch => char.IsLetterOrDigit(ch) ? ch : '-').ToArray());

    /// <summary>
    /// Writes <c>summary.json</c>, <c>report.md</c> and the plots (under <c>plots/</c>) into <paramref name="outDir"/>,
    /// each file through <paramref name="write"/> (the atomic write; see <see cref="FileWriter"/>).
    /// </summary>
    public IReadOnlyList<string> Render(string outDir, FileWriter write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var written = new List<string>();
        string plots = Path.Combine(outDir, "plots");
        foreach (var m in ForgettingMetrics)
        {
            string drop = $"relative drop of {m} (forgetting)";
            written.Add(Plots.Scatter(Path.Combine(plots, $"pareto-f1-{Slug(m)}"), new PlotLabels($"Learning vs forgetting: target F1 vs {m}", drop, "target F1 (learning)"),
                Configs.Select(x => new LabelledPoint(x.Entry, x.RelativeDrop(m, Directions[m]), x.Mean("after", TargetF1))), write, frontier: true).Png);
            written.Add(Plots.Scatter(Path.Combine(plots, $"pareto-nll-{Slug(m)}"), new PlotLabels($"Learning vs forgetting: answer-NLL reduction vs {m}", drop, "target answer NLL reduction, nats/token (learning)"),
                Configs.Select(x => new LabelledPoint(x.Entry, x.RelativeDrop(m, Directions[m]), x.Mean("before", TargetNll) - x.Mean("after", TargetNll))), write, frontier: true).Png);
        }
        written.Add(Curve(plots, "learning-curve-f1", TargetF1, "target F1", write));
        written.Add(Curve(plots, "learning-curve-nll", TargetNll, "target answer NLL (nats/token)", write));
        foreach (var m in ForgettingMetrics) written.Add(Curve(plots, $"forgetting-curve-{Slug(m)}", m, m, write));
        foreach (string key in AgainstKeys())
            written.Add(Against(plots, key, write));
        WriteText(write, Path.Combine(outDir, "summary.json"), Summary().ToJsonString(Config.ConfigLoader.Json) + "\n");
        WriteText(write, Path.Combine(outDir, "report.md"), Markdown());
        written.Add(Path.Combine(outDir, "summary.json"));
        written.Add(Path.Combine(outDir, "report.md"));
        return written;
    }

    static void WriteText(FileWriter write, string path, string text)
    {
        byte[] bytes = new System.Text.UTF8Encoding(false).GetBytes(text);
        write(path, s => s.Write(bytes));
    }

    /// <summary>A metric over the stream for the selected configuration of each entry (its first seed's run).</summary>
    string Curve(string plots, string name, string metric, string yLabel, FileWriter write)
    {
        var series = new List<PlotSeries>();
        foreach (var (entry, x) in Selected)
        {
            if (x.Runs[0].Text("dir") is not { } rel) continue;
            string path = Path.Combine(_dir, rel, ResultFiles.MetricsFile);
            if (!File.Exists(path)) continue;
            var log = ResultFiles.ReadMetrics(path);
            if (!log.Has(metric)) continue;
            var (steps, values) = log.Series(metric);
            series.Add(new PlotSeries(entry, steps, values));
        }
        return Plots.Line(Path.Combine(plots, name), new PlotLabels($"{yLabel} along the stream", "step (facts × steps per fact)", yLabel), series, write).Png;
    }
}
