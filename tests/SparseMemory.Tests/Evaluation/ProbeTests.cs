using SparseMemory.Runs;
using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Cli;
using SparseMemory.Config;
using SparseMemory.Data.Facts;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Training;
using TorchSharp;
using Xunit;

namespace SparseMemory.Tests.Evaluation;

/// <summary>One tiny pretrained checkpoint (2 steps) and a small facts file, shared by the probe tests.</summary>
public sealed class TinyCheckpoint
{
    public string Root { get; }
    public string Run { get; }
    public string FactsPath { get; }
    public LoadedModel Loaded { get; }

    public TinyCheckpoint()
    {
        Root = Fixtures.TempDir("eval");
        Run = Path.Combine(Root, "run");
        Pretraining.Run(Fixtures.TinyConfig(Fixtures.WriteCorpus(Root), steps: 2), Run, NullObserver.Instance);
        Loaded = Checkpoint.Load(Run);
        string[] people = ["Ada", "Bela", "Cyril", "Dora", "Emil", "Fenna", "Gus", "Hale"];
        string[] places = ["Arden", "Brill", "Cove", "Dunmore", "Eastby", "Fallow"];
        var facts = Enumerable.Range(0, 30).Select(i =>
        {
            string who = $"{people[i % people.Length]} {i}", where = places[i % places.Length];
            return new Fact($"f{i}", who, "lives_in", where, [where], $"Where does {who} live?", [$"{who} lives in {where}."], "test");
        });
        FactsPath = Path.Combine(Root, "facts.jsonl");
        DataFiles.WriteFacts(FactsPath, facts);
    }
}

public sealed class ProbeTests : IClassFixture<TinyCheckpoint>, IDisposable
{
    readonly TinyCheckpoint tiny;
    readonly int _threads = torch.get_num_threads();

    // One thread, as smf eval uses by default (see LogLikelihoodTests); restored after each test.
    public ProbeTests(TinyCheckpoint tiny)
    {
        this.tiny = tiny;
        torch.set_num_threads(1);
    }

    public void Dispose() => torch.set_num_threads(_threads);

    public static TheoryData<string> ProbeNames => new(EvalProbes.Registry.Names);

    [Fact]
    public void Registry_names_are_unique_kebab_case_and_unknown_names_are_one_clear_error()
    {
        Assert.NotEmpty(EvalProbes.Registry.All);
        Assert.All(EvalProbes.Registry.All, p =>
        {
            Assert.Matches("^[a-z0-9]+(-[a-z0-9]+)*$", p.Name);                   // one spelling, as result files key on it
            Assert.False(string.IsNullOrWhiteSpace(p.Description), $"{p.Name}: no description");
            Assert.False(string.IsNullOrWhiteSpace(p.Metric), $"{p.Name}: no metric");
        });
        var e = Assert.Throws<ConfigException>(() => EvalProbes.Registry.GetAll(["blimp", "nope", "blimp"], "probes"));
        Assert.Contains("\"nope\"", e.Message);
        Assert.Contains(EvalProbes.Registry.Names[^1], e.Message);
        Assert.Equal(["blimp"], EvalProbes.Registry.GetAll(["blimp", " blimp ", ""], "probes").Select(p => p.Name));
    }

    /// <summary>
    /// Every registered probe, on arrival: on the tiny checkpoint with facts files given and no benchmarks folder it
    /// either scores items (a finite headline value) or is skipped with a reason that names the missing folder.
    /// </summary>
    [Theory]
    [MemberData(nameof(ProbeNames))]
    public void Every_registered_probe_scores_or_skips_cleanly_without_benchmarks(string name)
    {
        string missing = Path.Combine(tiny.Root, "no-such-benchmarks");
        var options = new ProbeOptions { BenchmarksRoot = missing, Limit = 2, TargetFacts = tiny.FactsPath, KnownFacts = tiny.FactsPath };
        var r = EvalProbes.Run(EvalProbes.Registry.Get(name, "probes"), tiny.Loaded, options);
        Assert.Equal(name, r.Probe);
        if (r.Skipped is not null)
        {
            Assert.Contains("no-such-benchmarks", r.Skipped);
            Assert.Equal("null", r.ToJson()["value"]?.ToJsonString() ?? "null");
            Assert.Equal(r.Skipped, r.ToJson()["skipped"]!.GetValue<string>());
        }
        else
        {
            Assert.True(double.IsFinite(r.Value), $"{name}: value {r.Value}");
            Assert.InRange(r.Count, 1, int.MaxValue);
        }
    }

    [Fact]
    public void Smf_eval_help_lists_every_registered_probe()
    {
        var (code, stdout, _) = Smf.Run("eval", "--help");
        Assert.Equal(0, code);
        Assert.All(EvalProbes.Registry.Names, n => Assert.Contains(n, stdout));
    }

    [Fact]
    public void Missing_default_fact_set_skips_but_an_explicit_missing_file_is_an_error()
    {
        if (!FactsFile.EmbeddedNames.Contains(ProbeOptions.DefaultTargetFacts))
            Assert.NotNull(EvalProbes.Run(QaF1Probe.Target(), tiny.Loaded, new ProbeOptions()).Skipped);
        Assert.Throws<FileNotFoundException>(() => EvalProbes.Run(QaF1Probe.Known(), tiny.Loaded,
            new ProbeOptions { KnownFacts = Path.Combine(tiny.Root, "missing.jsonl") }));
    }

    [Fact]
    public void Limited_subsets_are_fixed_by_seed_and_probe()
    {
        var items = Enumerable.Range(0, 100).ToArray();
        var a = ProbeSubset.Take(items, 10, 1, "blimp");
        Assert.Equal(a, ProbeSubset.Take(items, 10, 1, "blimp"));
        Assert.Equal(a.Order(), a);
        Assert.Equal(10, a.Distinct().Count());
        Assert.NotEqual(a, ProbeSubset.Take(items, 10, 2, "blimp"));
        Assert.Same(items, ProbeSubset.Take(items, null, 1, "blimp"));
        Assert.Equal(StableHashOfAbc, ProbeSubset.StableHash("abc"));   // pinned: must not vary across processes
    }

    const long StableHashOfAbc = unchecked((long)(0xe71fa2190541574bUL >> 1));

    [Fact]
    public void Fact_f1_probe_with_details_scores_every_item()
    {
        var r = EvalProbes.Run(QaF1Probe.Known(), tiny.Loaded,
            new ProbeOptions { KnownFacts = tiny.FactsPath, Limit = 7, Details = true });
        Assert.Null(r.Skipped);
        Assert.Equal(7, r.Count);
        Assert.InRange(r.Value, 0, 1);
        Assert.InRange(r.Extra["exact_match"], 0, 1);
        Assert.True(r.Extra["answer_nll"] > 0);
        Assert.Equal(7, r.Details!.Count);
        Assert.All(r.Details, d => Assert.NotNull(d["prediction"]));
    }

    [Fact]
    public void Smf_eval_writes_one_json_line_per_probe()
    {
        string outFile = Path.Combine(tiny.Root, "results", "eval.jsonl");
        var (code, stdout, err) = Smf.Run("eval", "--model", tiny.Run, "--probes", "known-facts-f1,heldout-nll,blimp", "--limit", "20",
            "--known-facts", tiny.FactsPath, "--benchmarks", Path.Combine(tiny.Root, "none"), "--out", outFile);
        Assert.True(code == 0, err);
        var lines = File.ReadAllLines(outFile).Select(l => JsonNode.Parse(l)!.AsObject()).ToArray();
        Assert.Equal(["known-facts-f1", "heldout-nll", "blimp"], lines.Select(l => l["probe"]!.GetValue<string>()));
        foreach (var l in lines)
            foreach (string field in new[] { "probe", "metric", "value", "count", "seconds" }) Assert.True(l.ContainsKey(field), $"{field} missing in {l}");
        Assert.Equal(20, lines[0]["count"]!.GetValue<int>());
        Assert.Equal("f1", lines[0]["metric"]!.GetValue<string>());
        Assert.True(lines[0].ContainsKey("exact_match"));
        Assert.True(lines[1]["value"]!.GetValue<double>() > 0);
        Assert.True(lines[1]["count"]!.GetValue<int>() > 0);
        Assert.True(lines[2].ContainsKey("skipped"));
        Assert.Contains("known-facts-f1", stdout);
        Assert.Contains("blimp", stdout);
        Assert.Contains("skipped", stdout);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(outFile)!, "*.tmp*"));
    }

    [Fact]
    public void Smf_eval_unknown_probe_is_a_one_line_error()
    {
        var (code, _, err) = Smf.Run("eval", "--model", tiny.Run, "--probes", "blimp,bogus");
        Assert.Equal(2, code);
        var line = Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("error:", line);
        Assert.Contains("bogus", line);
        Assert.Contains("known-facts-f1", line);
    }
}
