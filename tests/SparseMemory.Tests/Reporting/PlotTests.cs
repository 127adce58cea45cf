using System.Xml.Linq;
using SparseMemory.Checkpoints;
using SparseMemory.Reporting;
using Xunit;

namespace SparseMemory.Tests.Reporting;

public sealed class PlotTests
{
    static readonly byte[] PngMagic = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Checks both files: PNG signature and size, SVG parses as XML with an svg root and holds every text.</summary>
    internal static void AssertPlotFiles(PlotFiles f, params string[] texts)
    {
        var png = File.ReadAllBytes(f.Png);
        Assert.True(png.Length > 1000, $"{f.Png} has only {png.Length} bytes");
        Assert.Equal(PngMagic, png[..8]);
        var svg = XDocument.Load(f.Svg);
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        string all = string.Concat(svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value + "\n"));
        foreach (string t in texts) Assert.Contains(t, all);
    }

    [Fact]
    public void Line_plot_writes_png_and_svg_with_title_labels_and_legend()
    {
        string dir = Fixtures.TempDir("reporting");
        double[] steps = [0, 1, 2, 3, 4, 5];
        var f = Plots.Line(Path.Combine(dir, "sub", "loss"), new PlotLabels("Loss curve", "step", "cross-entropy"),
            [new PlotSeries("train loss", steps, [4, 3.5, 3.1, 2.8, double.NaN, 2.5]), new PlotSeries("eval loss", [0, 5], [4.2, 2.9])], AtomicFile.Write);
        Assert.Equal(Path.Combine(dir, "sub", "loss.png"), f.Png);
        Assert.Equal(Path.Combine(dir, "sub", "loss.svg"), f.Svg);
        AssertPlotFiles(f, "Loss curve", "step", "cross-entropy", "train loss", "eval loss");
    }

    [Fact]
    public void Extension_is_dropped_and_mismatched_series_are_an_error()
    {
        string dir = Fixtures.TempDir("reporting");
        var f = Plots.Line(Path.Combine(dir, "curve.png"), new PlotLabels("t", "x", "y"), [new PlotSeries("s", [1.0], [2.0])], AtomicFile.Write, 320, 200);
        Assert.Equal(Path.Combine(dir, "curve.svg"), f.Svg);
        AssertPlotFiles(f);
        Assert.Throws<ArgumentException>(() => Plots.Line(Path.Combine(dir, "bad"), new PlotLabels("t", "x", "y"), [new PlotSeries("s", [1.0, 2.0], [2.0])], AtomicFile.Write));
    }

    [Fact]
    public void Empty_plot_still_has_its_title()
    {
        string dir = Fixtures.TempDir("reporting");
        AssertPlotFiles(Plots.Line(Path.Combine(dir, "empty"), new PlotLabels("Nothing yet", "step", "loss"), [], AtomicFile.Write), "Nothing yet");
        AssertPlotFiles(Plots.Scatter(Path.Combine(dir, "empty-scatter"), new PlotLabels("No points", "x", "y"), [], AtomicFile.Write, frontier: true), "No points");
    }

    [Fact]
    public void Scatter_plot_groups_points_labels_them_and_draws_frontiers()
    {
        string dir = Fixtures.TempDir("reporting");
        LabelledPoint[] pts =
        [
            new("sparse", 0.02, 0.60, "t=50"), new("sparse", 0.05, 0.80, "t=500"), new("sparse", 0.08, 0.70, "t=5000"),
            new("full", 0.30, 0.85, "lr=1e-5"), new("full", 0.60, 0.90, "lr=1e-4"),
            new("lora", 0.10, 0.50), new("lora", double.NaN, 0.9, "dropped"),
        ];
        var f = Plots.Scatter(Path.Combine(dir, "pareto"), new PlotLabels("Learning vs forgetting", "forgetting (drop in held-out F1)", "learning (target F1)"),
            pts, AtomicFile.Write, frontier: true);
        AssertPlotFiles(f, "Learning vs forgetting", "forgetting (drop in held-out F1)", "learning (target F1)",
            "sparse", "full", "lora", "t=500", "lr=1e-4");
        Assert.DoesNotContain("dropped", File.ReadAllText(f.Svg));
    }

    /// <summary>
    /// Proves that <paramref name="render"/> replaces each of <paramref name="paths"/> by renaming a new file over it
    /// (the atomic write of docs/persistence.md) rather than writing into it: each path is first made a symbolic link to
    /// a sentinel file outside the folder. A write in place goes through the link and changes the sentinel; a rename
    /// replaces the link itself. Also checks that no temp file is left next to any of them.
    /// </summary>
    internal static void AssertWrittenByRename(IReadOnlyCollection<string> paths, Action render)
    {
        Assert.NotEmpty(paths);
        string sentinels = Fixtures.TempDir("sentinel");
        var sentinelOf = paths.Select((p, i) => (Path: p, Sentinel: Path.Combine(sentinels, $"{i}.old"))).ToList();
        foreach (var (path, sentinel) in sentinelOf)
        {
            File.WriteAllText(sentinel, "old");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.Delete(path);
            File.CreateSymbolicLink(path, sentinel);
        }
        render();
        foreach (var (path, sentinel) in sentinelOf)
        {
            Assert.True(File.Exists(path), $"{path} was not written");
            Assert.True(new FileInfo(path).LinkTarget is null, $"{path} was written in place (through the link), not replaced by a rename");
            Assert.Equal("old", File.ReadAllText(sentinel));
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + AtomicFile.TempMarker + "*"));
        }
    }

    [Fact]
    public void Plots_replace_their_files_by_rename()
    {
        string dir = Fixtures.TempDir("reporting");
        string basePath = Path.Combine(dir, "atomic");
        AssertWrittenByRename([basePath + ".png", basePath + ".svg"],
            () => AssertPlotFiles(Plots.Line(basePath, new PlotLabels("Atomic", "x", "y"), [new PlotSeries("s", [1.0, 2.0], [2.0, 3.0])], AtomicFile.Write), "Atomic"));
    }
}
