using System.CommandLine;
using System.Globalization;
using SparseMemory.Config;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Runs;

namespace SparseMemory.Cli;

/// <summary>
/// <c>smf eval</c>: runs probes on a checkpoint (<see cref="EvalRun"/>), prints one table line per probe and writes
/// <c>--out</c> as JSON lines, with the resolved config frozen beside it. Every flag is a shortcut for a key of
/// <see cref="EvalConfig"/> (defaults → <c>--config</c> → flags → <c>--set</c>).
/// </summary>
public static class EvalCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var d = new EvalConfig();
        // No option has a default here: the defaults live in EvalConfig, so a flag overrides --config only when given.
        var model = new Option<string?>("--model") { Description = "Checkpoint folder (required here or in --config; key model)" };
        var probes = new Option<string?>("--probes") { Description = $"Comma-separated probes (default: all): {string.Join(", ", EvalProbes.Registry.Names)} (key probes)" };
        var limit = new Option<int?>("--limit") { Description = "Items per probe (per paradigm for blimp, documents for heldout-nll); a fixed seeded sample. Default: all (key limit)" };
        var outFile = new Option<string?>("--out") { Description = "Results file (JSON lines, one per probe), written atomically; the resolved config is frozen beside it as NAME-config.json" };
        var details = new Option<bool?>("--details") { Description = "Add per-item rows (\"details\") to each probe's line (key details)" };
        var seed = new Option<int?>("--seed") { Description = $"Seed of the --limit sample (default {d.Seed}; key seed)" };
        var benchmarks = new Option<string?>("--benchmarks") { Description = "Benchmarks folder (default: $SMF_BENCHMARKS or ../shared/data/benchmarks; key benchmarks)" };
        var targetFacts = new Option<string?>("--target-facts") { Description = $"Facts for target-f1: embedded set name or facts file (default {ProbeOptions.DefaultTargetFacts}; key target_facts)" };
        var knownFacts = new Option<string?>("--known-facts") { Description = $"Facts for known-facts-f1: embedded set name or facts file (default {ProbeOptions.DefaultKnownFacts}; key known_facts)" };
        var heldout = new Option<string?>("--heldout") { Description = "Corpus file for heldout-nll (default: the held-out part of the checkpoint's pretraining corpus; key heldout)" };
        var batchSize = new Option<int?>("--batch-size") { Description = $"Sequences per forward pass for likelihood scoring (default {SparseMemory.Evaluation.LogLikelihood.DefaultBatchSize}; key batch_size)" };
        var device = new Option<string?>("--device") { Description = $"cpu or cuda (default {d.Device}; key device)" };
        var threads = new Option<int?>("--threads") { Description = $"Torch CPU threads (0 = library default; default {d.Threads}; key threads)" };
        var allowNonFinite = new Option<bool?>(GenerateCommand.AllowNonFiniteOption().Name) { Description = GenerateCommand.AllowNonFiniteOption().Description + " (key allow_non_finite)" };
        var config = CliRunner.ConfigOption();
        var sets = CliRunner.SetOption();
        var cmd = new Command("eval", $"Evaluate a checkpoint on probes ({EvalProbes.Registry.Names.Count} registered; see --probes)")
        {
            model, probes, limit, outFile, details, seed, benchmarks, targetFacts, knownFacts, heldout, batchSize, device, threads, allowNonFinite, config, sets,
        };
        cmd.SetAction(pr =>
        {
            var overrides = new List<string>();
            CliRunner.Flag(pr, overrides, model, "model");
            if (pr.GetValue(probes) is { } list)
                overrides.Add(ConfigLoader.Set("probes", list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)));
            CliRunner.Flag(pr, overrides, limit, "limit");
            CliRunner.Flag(pr, overrides, details, "details");
            CliRunner.Flag(pr, overrides, seed, "seed");
            CliRunner.Flag(pr, overrides, benchmarks, "benchmarks");
            CliRunner.Flag(pr, overrides, targetFacts, "target_facts");
            CliRunner.Flag(pr, overrides, knownFacts, "known_facts");
            CliRunner.Flag(pr, overrides, heldout, "heldout");
            CliRunner.Flag(pr, overrides, batchSize, "batch_size");
            CliRunner.Flag(pr, overrides, device, "device");
            CliRunner.Flag(pr, overrides, threads, "threads");
            CliRunner.Flag(pr, overrides, allowNonFinite, "allow_non_finite");
            overrides.AddRange(pr.GetValue(sets) ?? []);
            var cfg = EvalRun.LoadConfig(pr.GetValue(config), overrides);
            Console.WriteLine($"{"probe",-16} {"metric",-14} {"value",10} {"count",7} {"seconds",8}  extras");
            var results = EvalRun.Run(cfg, r => Console.WriteLine(Format(r)));
            if (pr.GetValue(outFile) is { } path)
            {
                string frozen = EvalRun.Save(path, cfg, results);
                Console.WriteLine($"wrote {path} (config: {frozen})");
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>One table line for a result.</summary>
    public static string Format(ProbeResult r)
    {
        var c = CultureInfo.InvariantCulture;
        if (r.Skipped is not null) return string.Create(c, $"{r.Probe,-16} skipped: {r.Skipped}");
        string extras = string.Join("  ", r.Extra.Where(kv => !kv.Key.Contains('/')).Select(kv => string.Create(c, $"{kv.Key}={kv.Value:G4}")));
        return string.Create(c, $"{r.Probe,-16} {r.Metric,-14} {r.Value,10:F4} {r.Count,7} {r.Seconds,8:F1}  {extras}");
    }
}
