using SparseMemory.Config;

namespace SparseMemory.Checkpoints;

/// <summary>
/// Run folders: a new folder gets the requested config frozen into it before step 0; an existing run folder must
/// hold the same config (it is then resumed); a non-empty folder that is not a run is refused, so nothing is
/// overwritten. Temp files that an interrupted write of ours left behind do not count (they are deleted first).
/// </summary>
public static class RunFolder
{
    /// <summary>Returns the config to run with, creating the folder and <c>config.json</c> if new.</summary>
    public static T Prepare<T>(T requested, string runDir) where T : notnull
    {
        string cfgPath = Path.Combine(runDir, Checkpoint.ConfigFile);
        AtomicFile.DeleteLeftovers(runDir);                       // e.g. config.json.tmp-… of a run killed while it started
        if (File.Exists(cfgPath))
        {
            var saved = ConfigLoader.ReadFile<T>(cfgPath);
            if (ConfigLoader.ToJson(saved) != ConfigLoader.ToJson(requested))
                throw new ConfigException($"{cfgPath}: {runDir} holds a run with a different config; resume it with the same options, or pass a new --out folder");
            return saved;
        }
        if (Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
            throw new ConfigException($"{runDir}: folder exists, is not empty and holds no {Checkpoint.ConfigFile}; refusing to overwrite it (pass a new --out folder)");
        Directory.CreateDirectory(runDir);
        SaveConfig(requested, cfgPath);
        return requested;
    }

    /// <summary>Writes a config (indented snake_case JSON) atomically.</summary>
    public static void SaveConfig<T>(T config, string path) => AtomicFile.WriteAllText(path, ConfigLoader.ToJson(config) + "\n");

    /// <summary>File name of a finished run's summary; its presence marks the run complete.</summary>
    public const string SummaryFile = "summary.json";

    /// <summary>
    /// Opens a run folder for a job: freezes or checks the config (<see cref="Prepare{T}"/>) and returns the summary of
    /// a run that already finished there (after telling <paramref name="message"/>), or null when there is work to do.
    /// </summary>
    public static (T Config, TSummary? Done) Open<T, TSummary>(T requested, string runDir, Action<string> message)
        where T : notnull where TSummary : class
    {
        var cfg = Prepare(requested, runDir);
        var done = CompletedSummary<TSummary>(runDir);
        if (done is not null) message($"run in {runDir} is already complete; pass a new --out (or delete the folder) to run again");
        return (cfg, done);
    }

    /// <summary>The summary of a run that already finished in <paramref name="runDir"/>, or null when it has not.</summary>
    public static TSummary? CompletedSummary<TSummary>(string runDir) where TSummary : class
    {
        string path = Path.Combine(runDir, SummaryFile);
        if (!File.Exists(path)) return null;
        return System.Text.Json.JsonSerializer.Deserialize<TSummary>(File.ReadAllText(path), ConfigLoader.Json)
               ?? throw new InvalidDataException($"{path}: empty summary; delete it to run again");
    }

    /// <summary>Writes the summary atomically, which marks the run complete.</summary>
    public static void WriteSummary<TSummary>(string runDir, TSummary summary) =>
        AtomicFile.WriteAllText(Path.Combine(runDir, SummaryFile), System.Text.Json.JsonSerializer.Serialize(summary, ConfigLoader.Json) + "\n");
}
