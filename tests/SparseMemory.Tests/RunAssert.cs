using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using Xunit;

namespace SparseMemory.Tests;

/// <summary>Comparisons of a resumed run folder with an uninterrupted one, shared by the crash and kill tests.</summary>
internal static class RunAssert
{
    /// <summary>Metrics rows of a run folder without the fields that measure the machine (time, memory) (and any <paramref name="alsoIgnore"/>d keys).</summary>
    public static string[] Metrics(string dir, params string[] alsoIgnore) =>
        File.ReadAllLines(Path.Combine(dir, Checkpoint.MetricsFile)).Select(line =>
        {
            var o = JsonNode.Parse(line)!.AsObject();
            foreach (string k in SparseMemory.Training.Trainer.MeasuredFields.Concat(alsoIgnore)) o.Remove(k);
            return o.ToJsonString();
        }).ToArray();

    /// <summary>
    /// The checkpoint files (and <paramref name="extraFiles"/>) are byte-identical, the metrics rows equal, and no staged,
    /// commit-record or temp file is left in <paramref name="actual"/>.
    /// </summary>
    public static void SameRun(string expected, string actual, params string[] extraFiles)
    {
        foreach (string f in TrainingCheckpoint.Files.Concat(extraFiles))
        {
            string e = Path.Combine(expected, f), a = Path.Combine(actual, f);
            Assert.Equal(File.Exists(e), File.Exists(a));
            if (File.Exists(e)) Assert.True(File.ReadAllBytes(e).AsSpan().SequenceEqual(File.ReadAllBytes(a)), $"{f} differs from the uninterrupted run's");
        }
        Assert.Equal(Metrics(expected), Metrics(actual));
        var leftovers = Directory.GetFiles(actual).Select(p => Path.GetFileName(p))
            .Where(n => n.EndsWith(TrainingCheckpoint.StagedSuffix, StringComparison.Ordinal) || n == TrainingCheckpoint.CommitFile || AtomicFile.IsTempName(n));
        Assert.Empty(leftovers);
    }
}
