using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Finetuning;

namespace SparseMemory.Runs;

/// <summary>What <see cref="BackgroundRun.Run"/> wrote.</summary>
/// <param name="Path">The statistics file.</param>
/// <param name="ConfigPath">The frozen config beside it.</param>
/// <param name="Batches">Batches counted.</param>
/// <param name="Slots">Memory slots.</param>
/// <param name="SlotsRead">Slots read at least once.</param>
/// <param name="SlotsEverywhere">Slots read in every batch (IDF 0).</param>
/// <param name="Leftovers">Temp files of an interrupted earlier write that were removed.</param>
public sealed record BackgroundSummary(string Path, string ConfigPath, long Batches, long Slots, long SlotsRead, long SlotsEverywhere, IReadOnlyList<string> Leftovers);

/// <summary>
/// <c>smf background</c> (and an experiment's base models): background access statistics of a checkpoint, saved with
/// the resolved config frozen beside them (<see cref="ConfigLoader.FrozenName"/>).
/// </summary>
public static class BackgroundRun
{
    /// <summary>Loads the config (defaults → <paramref name="file"/> → <paramref name="overrides"/>), validated.</summary>
    public static BackgroundConfig LoadConfig(string? file, IEnumerable<string> overrides) =>
        ConfigLoader.Load<BackgroundConfig>(null, file, overrides, c => c.Validate());

    /// <summary>Where the statistics go by default: <c>MODEL/background.safetensors</c>.</summary>
    public static string DefaultPath(BackgroundConfig cfg) => Path.Combine(cfg.Model!, BackgroundStatsBuilder.FileName);

    /// <summary>Counts the statistics and writes them to <paramref name="path"/> (null = <see cref="DefaultPath"/>).</summary>
    public static BackgroundSummary Run(BackgroundConfig cfg, string? path = null, Action<int, int>? progress = null)
    {
        var problems = cfg.Validate();
        if (problems.Count > 0) throw new ConfigException("invalid background config:\n  " + string.Join("\n  ", problems));
        string output = path ?? DefaultPath(cfg);
        var stats = BackgroundStatsBuilder.Build(cfg.Model!, cfg.Batches, cfg.BatchSize, cfg.SeqLen, cfg.Seed, progress, cfg.Corpus);
        // A killed earlier run may have left the temp file of its write beside the output.
        var leftovers = AtomicFile.DeleteLeftovers(Path.GetDirectoryName(Path.GetFullPath(output))!);
        stats.Save(output);
        string frozen = ResultFile.FreezeConfig(cfg, output);
        var df = stats.DocumentFrequency.ToArray();
        return new BackgroundSummary(output, frozen, stats.NumBatches, stats.SlotCount, df.Count(x => x > 0), df.Count(x => x == stats.NumBatches), leftovers);
    }
}
