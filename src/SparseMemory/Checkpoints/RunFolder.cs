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
            T saved;
            try { saved = ConfigLoader.ReadFile<T>(cfgPath); }
            catch (ConfigException) when (KindOf(cfgPath) is { } other && other != KindOf(typeof(T)))
            {
                throw new ConfigException($"{cfgPath}: {runDir} holds {other}, not {KindOf(typeof(T)) ?? "a run of this kind"}; pass a new --out folder");
            }
            if (ConfigLoader.ToJson(saved) != ConfigLoader.ToJson(requested))
                throw new ConfigException($"{cfgPath}: {runDir} holds a run with a different config; resume it with the same options, or pass a new --out folder");
            return saved;
        }
        if (Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
            throw new ConfigException($"{runDir}: folder exists, is not empty and holds no {Checkpoint.ConfigFile}; refusing to overwrite it (pass a new --out folder)");
        bool created = !Directory.Exists(runDir);
        Directory.CreateDirectory(runDir);
        try { SaveConfig(requested, cfgPath); }
        catch when (created)
        {
            // A config that cannot be written leaves no empty folder behind.
            try { Directory.Delete(runDir, recursive: false); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        return requested;
    }

    /// <summary>What kind of run a config type belongs to, in words, or null for other types.</summary>
    static string? KindOf(Type t) =>
        t == typeof(PretrainConfig) ? "a pretraining run (smf pretrain; e.g. a base model)"
        : t == typeof(FinetuneConfig) ? "a finetuning run (smf finetune)"
        : t == typeof(ExperimentConfig) ? "an experiment (smf experiment)"
        : t == typeof(ImportRunConfig) ? "an imported model (smf import)"
        : t == typeof(RetrofitConfig) ? "a retrofitted model (smf retrofit)"
        : null;

    /// <summary>The kind of run a saved config.json describes, guessed from its top-level keys; null when unknown.</summary>
    static string? KindOf(string cfgPath)
    {
        try
        {
            if (System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(cfgPath), documentOptions: ConfigLoader.DocumentOptions) is not System.Text.Json.Nodes.JsonObject o) return null;
            if (o.ContainsKey("grid") || o.ContainsKey("base_preset")) return KindOf(typeof(ExperimentConfig));
            if (o.ContainsKey("base_model") && o.ContainsKey("method")) return KindOf(typeof(FinetuneConfig));
            if (o.ContainsKey("import")) return KindOf(typeof(ImportRunConfig));
            if (o.ContainsKey("retrofit")) return KindOf(typeof(RetrofitConfig));
            if (o.ContainsKey("train")) return KindOf(typeof(PretrainConfig));
            return null;
        }
        catch (System.Text.Json.JsonException) { return null; }
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
        TSummary? summary;
        try { summary = System.Text.Json.JsonSerializer.Deserialize<TSummary>(File.ReadAllText(path), ConfigLoader.Json); }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid run summary ({OneLine(e.Message)}); delete it to rerun the end of the run (the checkpoint is kept)");
        }
        return summary ?? throw new InvalidDataException($"{path}: empty summary; delete it to rerun the end of the run (the checkpoint is kept)");
    }

    static string OneLine(string s) => s.ReplaceLineEndings(" ");

    /// <summary>Writes the summary atomically, which marks the run complete.</summary>
    public static void WriteSummary<TSummary>(string runDir, TSummary summary) =>
        AtomicFile.WriteAllText(Path.Combine(runDir, SummaryFile), System.Text.Json.JsonSerializer.Serialize(summary, ConfigLoader.Json) + "\n");
}
