using System.CommandLine;
using System.Globalization;
using System.Text;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Evaluation;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Training;
using TorchSharp;

namespace SparseMemory.Cli;

/// <summary>
/// <c>smf eval</c>: runs probes on a checkpoint, prints one table line per probe and writes <c>--out</c> as JSON lines,
/// one per probe (<c>probe, metric, value, count, seconds</c>, the extras, <c>model</c>, and <c>details</c> with
/// <c>--details</c>). A probe whose data is missing prints a message and still gets a line, with
/// <c>"skipped": "&lt;reason&gt;"</c> and a null value. The file is written atomically once every probe has run.
/// </summary>
public static class EvalCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Checkpoint folder", Required = true };
        var probes = new Option<string?>("--probes") { Description = $"Comma-separated probes (default: all): {string.Join(", ", EvalProbes.Registry.Names)}" };
        var limit = new Option<int?>("--limit") { Description = "Items per probe (per paradigm for blimp, documents for heldout-nll); a fixed seeded sample. Default: all" };
        var outFile = new Option<string?>("--out") { Description = "Results file (JSON lines, one per probe), written atomically" };
        var details = new Option<bool>("--details") { Description = "Add per-item rows (\"details\") to each probe's line" };
        var seed = new Option<int>("--seed") { Description = "Seed of the --limit sample", DefaultValueFactory = _ => 1 };
        var benchmarks = new Option<string?>("--benchmarks") { Description = "Benchmarks folder (default: $SMF_BENCHMARKS or ../shared/data/benchmarks)" };
        var targetFacts = new Option<string>("--target-facts") { Description = "Facts for target-f1: embedded set name or facts file", DefaultValueFactory = _ => ProbeOptions.DefaultTargetFacts };
        var knownFacts = new Option<string>("--known-facts") { Description = "Facts for known-facts-f1: embedded set name or facts file", DefaultValueFactory = _ => ProbeOptions.DefaultKnownFacts };
        var heldout = new Option<string?>("--heldout") { Description = "Corpus file for heldout-nll (default: the held-out part of the checkpoint's pretraining corpus)" };
        var batchSize = new Option<int>("--batch-size") { Description = "Sequences per forward pass for likelihood scoring", DefaultValueFactory = _ => LogLikelihood.DefaultBatchSize };
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        // One intra-op thread by default: eval batches of tiny models are too small to gain from a second thread, and
        // with another torch process on a 2-core machine two threads were measured 7-30x slower (spin contention).
        var threads = new Option<int>("--threads") { Description = "Torch CPU threads (0 = library default)", DefaultValueFactory = _ => 1 };
        var allowNonFinite = GenerateCommand.AllowNonFiniteOption();
        var cmd = new Command("eval", $"Evaluate a checkpoint on probes ({EvalProbes.Registry.Names.Count} registered; see --probes)")
        {
            model, probes, limit, outFile, details, seed, benchmarks, targetFacts, knownFacts, heldout, batchSize, device, threads, allowNonFinite,
        };
        cmd.SetAction(pr =>
        {
            var selected = pr.GetValue(probes) is { } list ? EvalProbes.Registry.GetAll(list.Split(','), "--probes") : EvalProbes.Registry.All;
            if (selected.Count == 0) throw new ArgumentException($"--probes lists no probe; known probes: {string.Join(", ", EvalProbes.Registry.Names)}");
            if (pr.GetValue(limit) is <= 0) throw new ArgumentException("--limit must be positive");
            if (pr.GetValue(batchSize) <= 0) throw new ArgumentException("--batch-size must be positive");
            if (pr.GetValue(threads) < 0) throw new ArgumentException("--threads must be ≥ 0");
            if (pr.GetValue(threads) > 0) torch.set_num_threads(pr.GetValue(threads));
            var options = new ProbeOptions
            {
                Limit = pr.GetValue(limit), Seed = pr.GetValue(seed), Details = pr.GetValue(details),
                BenchmarksRoot = pr.GetValue(benchmarks), TargetFacts = pr.GetValue(targetFacts)!, KnownFacts = pr.GetValue(knownFacts)!,
                HeldoutCorpus = pr.GetValue(heldout), BatchSize = pr.GetValue(batchSize),
            };
            string dir = pr.GetValue(model)!;
            var loaded = Checkpoint.Load(dir, Runtime.Device(pr.GetValue(device)!), pr.GetValue(allowNonFinite));
            var lines = new StringBuilder();
            Console.WriteLine($"{"probe",-16} {"metric",-14} {"value",10} {"count",7} {"seconds",8}  extras");
            foreach (var probe in selected)
            {
                var r = EvalProbes.Run(probe, loaded, options);
                Console.WriteLine(Format(r));
                var json = r.ToJson();
                json["model"] = dir;
                lines.Append(json.ToJsonString()).Append('\n');
            }
            if (pr.GetValue(outFile) is { } path)
            {
                AtomicFile.WriteAllText(path, lines.ToString());
                Console.WriteLine($"wrote {path}");
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
