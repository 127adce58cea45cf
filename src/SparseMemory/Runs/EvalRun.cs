using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Evaluation;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Training;
using TorchSharp;

namespace SparseMemory.Runs;

/// <summary>
/// <c>smf eval</c>: runs probes on a checkpoint. The results file is JSON lines, one per probe (<c>probe, metric, value,
/// count, seconds</c>, the extras, <c>model</c>, and <c>details</c> when asked); a probe whose data is missing still gets a
/// line, with <c>"skipped": "&lt;reason&gt;"</c> and a null value. It is written atomically once every probe has run, with
/// the resolved config frozen beside it (<see cref="ConfigLoader.FrozenName"/>).
/// </summary>
public static class EvalRun
{
    /// <summary>Loads the config (defaults → <paramref name="file"/> → <paramref name="overrides"/>), validated and resolved.</summary>
    public static EvalConfig LoadConfig(string? file, IEnumerable<string> overrides) =>
        Resolve(ConfigLoader.Load<EvalConfig>(null, file, overrides, Problems));

    /// <summary>Every problem of a config: its own rules and the probe names (the probe registry owns them).</summary>
    public static IReadOnlyList<string> Problems(EvalConfig cfg) =>
        cfg.Validate().Concat(EvalProbes.Registry.Problems((cfg.Probes ?? []).Select(p => p.Trim()), "probes")).ToList();

    /// <summary>The config with every default made explicit (what is frozen beside the results).</summary>
    public static EvalConfig Resolve(EvalConfig cfg) => cfg with
    {
        Probes = (cfg.Probes ?? [.. EvalProbes.Registry.Names]).Select(p => p.Trim()).Where(p => p.Length > 0).Distinct().ToArray(),
        TargetFacts = cfg.TargetFacts ?? ProbeOptions.DefaultTargetFacts,
        KnownFacts = cfg.KnownFacts ?? ProbeOptions.DefaultKnownFacts,
        BatchSize = cfg.BatchSize ?? LogLikelihood.DefaultBatchSize,
    };

    /// <summary>Runs every probe of a resolved config in order; <paramref name="onResult"/> sees each result as it comes.</summary>
    public static IReadOnlyList<ProbeResult> Run(EvalConfig cfg, Action<ProbeResult>? onResult = null)
    {
        if (cfg.Threads > 0) torch.set_num_threads(cfg.Threads);
        var options = new ProbeOptions
        {
            Limit = cfg.Limit, Seed = cfg.Seed, Details = cfg.Details, BenchmarksRoot = cfg.Benchmarks,
            TargetFacts = cfg.TargetFacts ?? ProbeOptions.DefaultTargetFacts, KnownFacts = cfg.KnownFacts ?? ProbeOptions.DefaultKnownFacts,
            HeldoutCorpus = cfg.Heldout, BatchSize = cfg.BatchSize ?? LogLikelihood.DefaultBatchSize,
        };
        var probes = cfg.Probes is { } names ? EvalProbes.Registry.GetAll(names, "probes") : EvalProbes.Registry.All;
        var loaded = Checkpoint.Load(cfg.Model!, Runtime.Device(cfg.Device), cfg.AllowNonFinite);
        var results = new List<ProbeResult>();
        foreach (var probe in probes)
        {
            var r = EvalProbes.Run(probe, loaded, options);
            onResult?.Invoke(r);
            results.Add(r);
        }
        return results;
    }

    /// <summary>One line of the results file.</summary>
    public static JsonObject Row(EvalConfig cfg, ProbeResult result)
    {
        var json = result.ToJson();
        json["model"] = cfg.Model;
        return json;
    }

    /// <summary>Writes the results file and the frozen config beside it; returns the config's path.</summary>
    public static string Save(string path, EvalConfig cfg, IEnumerable<ProbeResult> results)
    {
        ResultFile.WriteLines(path, results.Select(r => Row(cfg, r)));
        return ResultFile.FreezeConfig(cfg, path);
    }
}
