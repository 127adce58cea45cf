using ScottPlot;

namespace SparseMemory.Reporting;

/// <summary>Title and axis labels of a plot.</summary>
/// <param name="Title">Title above the plot.</param>
/// <param name="XLabel">Label of the horizontal axis.</param>
/// <param name="YLabel">Label of the vertical axis.</param>
public sealed record PlotLabels(string Title, string XLabel, string YLabel);

/// <summary>One named line of a line plot; <paramref name="X"/> and <paramref name="Y"/> have equal length.</summary>
/// <param name="Name">Legend text.</param>
/// <param name="X">Horizontal coordinates (e.g. steps).</param>
/// <param name="Y">Values.</param>
public sealed record PlotSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

/// <summary>One point of a scatter plot.</summary>
/// <param name="Series">Group the point belongs to (e.g. the method); one colour and legend entry per group.</param>
/// <param name="X">Horizontal coordinate.</param>
/// <param name="Y">Vertical coordinate.</param>
/// <param name="Label">Text drawn beside the point (e.g. a hyperparameter setting); null for none.</param>
public sealed record LabelledPoint(string Series, double X, double Y, string? Label = null);

/// <summary>
/// How a report file reaches the disk: <c>write</c> fills the file's stream. Reporting may use only Config
/// (docs/architecture.md), so it never opens a file itself; its callers pass the project's atomic write,
/// <c>Checkpoints.AtomicFile.Write</c> (docs/persistence.md), so a reader never sees a partial report or plot.
/// </summary>
/// <param name="path">The file to (re)place.</param>
/// <param name="write">Writes the file's bytes.</param>
public delegate void FileWriter(string path, Action<Stream> write);

/// <summary>The two files a plot was saved to.</summary>
/// <param name="Png">Raster image.</param>
/// <param name="Svg">Vector image.</param>
public sealed record PlotFiles(string Png, string Svg);

/// <summary>
/// Line and scatter plots (ScottPlot, rendered headless with SkiaSharp), each saved as <c>BASE.png</c> and
/// <c>BASE.svg</c> through a <see cref="FileWriter"/>. Points with a non-finite coordinate are left out; an empty input
/// still gives labelled axes.
/// </summary>
public static class Plots
{
    /// <summary>Default image width in pixels.</summary>
    public const int DefaultWidth = 800;

    /// <summary>Default image height in pixels.</summary>
    public const int DefaultHeight = 500;

    /// <summary>Series with at most this many points are drawn with markers as well as lines.</summary>
    public const int MarkerLimit = 60;

    /// <summary>
    /// Line plot of <paramref name="series"/> (e.g. loss over step), with title, axis labels and a legend, saved to
    /// <paramref name="basePath"/> + <c>.png</c>/<c>.svg</c> (a <c>.png</c>/<c>.svg</c> extension on it is dropped).
    /// </summary>
    public static PlotFiles Line(string basePath, PlotLabels labels, IEnumerable<PlotSeries> series, FileWriter write,
        int width = DefaultWidth, int height = DefaultHeight)
    {
        var plot = NewPlot(labels);
        var palette = new ScottPlot.Palettes.Category10();
        int i = 0;
        bool legend = false;
        foreach (var s in series)
        {
            if (s.X.Count != s.Y.Count)
                throw new ArgumentException($"series '{s.Name}': {s.X.Count} x values but {s.Y.Count} y values", nameof(series));
            var (xs, ys) = Finite(Enumerable.Range(0, s.X.Count).Select(k => (s.X[k], s.Y[k])));
            var line = plot.Add.Scatter(xs, ys, palette.GetColor(i++));
            line.LegendText = s.Name;
            line.LineWidth = 2;
            line.MarkerSize = xs.Length <= MarkerLimit ? 5 : 0;
            legend |= !string.IsNullOrEmpty(s.Name);
        }
        return Save(plot, basePath, write, width, height, legend);
    }

    /// <summary>
    /// Scatter plot of labelled points, one colour and legend entry per <see cref="LabelledPoint.Series"/> (in order of
    /// first appearance), saved like <see cref="Line"/>. With <paramref name="frontier"/>, each series' Pareto frontier
    /// (smaller x, larger y better; see <see cref="Pareto.Frontier"/>) is drawn as a dashed line in its colour.
    /// </summary>
    public static PlotFiles Scatter(string basePath, PlotLabels labels, IEnumerable<LabelledPoint> points, FileWriter write, bool frontier = false,
        int width = DefaultWidth, int height = DefaultHeight)
    {
        var plot = NewPlot(labels);
        var palette = new ScottPlot.Palettes.Category10();
        var groups = points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).GroupBy(p => p.Series).ToList();
        for (int i = 0; i < groups.Count; i++)
        {
            var pts = groups[i].ToList();
            var color = palette.GetColor(i);
            var markers = plot.Add.Scatter(pts.Select(p => p.X).ToArray(), pts.Select(p => p.Y).ToArray(), color);
            markers.LegendText = groups[i].Key;
            markers.LineWidth = 0;
            markers.MarkerSize = 9;
            foreach (var p in pts.Where(p => !string.IsNullOrEmpty(p.Label)))
            {
                var text = plot.Add.Text(p.Label!, p.X, p.Y);
                text.LabelFontSize = 11;
                text.LabelFontColor = color;
                text.LabelAlignment = Alignment.LowerLeft;
                text.OffsetX = 6;
                text.OffsetY = -4;
            }
            if (!frontier) continue;
            var idx = Pareto.Frontier(pts.Select(p => (p.X, p.Y)).ToList());
            if (idx.Length < 2) continue;
            var line = plot.Add.Scatter(idx.Select(k => pts[k].X).ToArray(), idx.Select(k => pts[k].Y).ToArray(), color);
            line.LineWidth = 1.5f;          // solid: Skia's SVG backend cannot draw dash patterns (it prints "Unsupported path effect")
            line.MarkerSize = 0;
        }
        // Room on the right for the point labels, which do not take part in autoscaling.
        plot.Axes.Margins(left: 0.05, right: 0.15, bottom: 0.1, top: 0.1);
        return Save(plot, basePath, write, width, height, groups.Count > 0);
    }

    static Plot NewPlot(PlotLabels labels)
    {
        var plot = new Plot();
        plot.Title(labels.Title);
        plot.XLabel(labels.XLabel);
        plot.YLabel(labels.YLabel);
        return plot;
    }

    static (double[] X, double[] Y) Finite(IEnumerable<(double X, double Y)> pts)
    {
        var kept = pts.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        return (kept.Select(p => p.X).ToArray(), kept.Select(p => p.Y).ToArray());
    }

    static PlotFiles Save(Plot plot, string basePath, FileWriter write, int width, int height, bool legend)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size {width}×{height} must be positive");
        string ext = Path.GetExtension(basePath).ToLowerInvariant();
        if (ext is ".png" or ".svg") basePath = basePath[..^ext.Length];
        if (legend) plot.ShowLegend(Edge.Right);
        var files = new PlotFiles(basePath + ".png", basePath + ".svg");
        byte[] png = plot.GetImageBytes(width, height, ImageFormat.Png);
        byte[] svg = System.Text.Encoding.UTF8.GetBytes(plot.GetSvgXml(width, height));
        write(files.Png, s => s.Write(png));
        write(files.Svg, s => s.Write(svg));
        return files;
    }
}
