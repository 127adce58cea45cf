using System.Text.Json.Nodes;
using System.Xml.Linq;
using SparseMemory.Runs;
using Xunit;

namespace SparseMemory.Tests.Runs;

/// <summary>The smoke experiment end to end: every output file, its fields, valid plots, and resuming without repeats.</summary>
public sealed class ExperimentTests
{
    [Fact]
    public void Smoke_experiment_writes_summary_report_and_decodable_plots_and_resumes_without_repeating_runs()
    {
        string dir = Path.Combine(Fixtures.TempDir("exp"), "smoke");
        var (code, output, err) = Smf.Run("experiment", "--preset", "smoke", "--out", dir);
        Assert.True(code == 0, err);
        Assert.Contains("Learning vs forgetting", output);

        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")))!;
        var methods = summary["methods"]!.AsObject();
        foreach (var m in new[] { "sparse", "full", "lora", "sparse-tf_only", "sparse-bg_known" })
        {
            var s = methods[m] ?? throw new Xunit.Sdk.XunitException($"summary.json has no method {m}");
            Assert.NotNull(s["target_f1"]);
            foreach (var probe in new[] { "target-f1", "known-facts-f1", "heldout-nll" })
            {
                var p = s["probes"]![probe]!;
                Assert.NotNull(p["before"]);
                Assert.NotNull(p["after"]);
                Assert.True(p.AsObject().ContainsKey("relative_drop"), $"{m}/{probe}: relative_drop");
            }
        }
        Assert.True(File.Exists(Path.Combine(dir, "base", "background-known.safetensors")));
        string report = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.Contains("| method | configuration | target F1", report);

        var pngs = Directory.GetFiles(Path.Combine(dir, "plots"), "*.png");
        var svgs = Directory.GetFiles(Path.Combine(dir, "plots"), "*.svg");
        Assert.Contains(pngs, p => Path.GetFileName(p).StartsWith("pareto-f1-", StringComparison.Ordinal));
        Assert.Contains(pngs, p => Path.GetFileName(p).StartsWith("pareto-nll-", StringComparison.Ordinal));
        Assert.Contains(pngs, p => Path.GetFileName(p) == "learning-curve-nll.png");
        foreach (var png in pngs)
        {
            using var bmp = SkiaSharp.SKBitmap.Decode(png);
            Assert.True(bmp is { Width: > 100, Height: > 100 }, $"{png} does not decode as an image");
        }
        foreach (var svg in svgs) Assert.Equal("svg", XDocument.Load(svg).Root!.Name.LocalName);

        // Resume: remove one finished run and the derived files; a rerun redoes exactly that run and leaves the others untouched.
        var runDirs = Directory.GetDirectories(Path.Combine(dir, "runs")).Order().ToArray();
        Assert.Equal(7, runDirs.Length);
        var stamps = runDirs.ToDictionary(d => d, d => File.GetLastWriteTimeUtc(Path.Combine(d, "model.safetensors")));
        Directory.Delete(runDirs[1], recursive: true);
        File.Delete(Path.Combine(dir, "summary.json"));
        File.Delete(Path.Combine(dir, ExperimentRun.ResultsFile));
        var (code2, _, err2) = Smf.Run("experiment", "--preset", "smoke", "--out", dir);
        Assert.True(code2 == 0, err2);
        foreach (var d in runDirs.Where(d => d != runDirs[1]))
            Assert.Equal(stamps[d], File.GetLastWriteTimeUtc(Path.Combine(d, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(runDirs[1], "summary.json")));
        Assert.Equal(7, File.ReadAllLines(Path.Combine(dir, ExperimentRun.ResultsFile)).Length);

        // The report re-renders from the files alone, replacing summary.json, report.md and every plot by rename (atomically).
        var derived = new[] { Path.Combine(dir, "summary.json"), Path.Combine(dir, "report.md") }.Concat(pngs).Concat(svgs).ToArray();
        Tests.Reporting.PlotTests.AssertWrittenByRename(derived, () =>
        {
            var (code3, _, err3) = Smf.Run("report", dir);
            Assert.True(code3 == 0, err3);
        });
    }

    [Fact]
    public void A_base_sweep_builds_one_base_per_memory_size_and_plots_against_it()
    {
        string dir = Path.Combine(Fixtures.TempDir("exp-mem"), "mem");
        var (code, _, err) = Smf.Run("experiment", "--preset", "smoke", "--out", dir,
            "--set", "base_sweep={\"model.memory.num_keys\":[16,32]}", "--set", "backgrounds={}", "--set", "base.train.steps=40",
            "--set", "grid=[{\"method\":\"sparse\",\"sweep\":{\"lr\":[5]}},{\"method\":\"full\",\"sweep\":{\"lr\":[1e-3]}}]");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(dir, "base-num_keys16", "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(dir, "base-num_keys32", "model.safetensors")));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(dir, ExperimentRun.ResultsFile)).Length);
        Assert.True(File.Exists(Path.Combine(dir, "plots", "against-base-model-memory-num-keys.png")));
    }

    [Fact]
    public void A_grid_entry_runs_on_a_named_model_beside_the_base_and_a_dense_one_gets_no_statistics()
    {
        string root = Fixtures.TempDir("exp-models");
        string dense = Path.Combine(root, "dense");
        var tiny = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 2);
        SparseMemory.Runs.Pretraining.Run(tiny with { Model = tiny.Model with { Memory = null } }, dense, SparseMemory.Training.NullObserver.Instance);
        string dir = Path.Combine(root, "exp");
        var (code, _, err) = Smf.Run("experiment", "--preset", "smoke", "--out", dir, "--set", "backgrounds={}", "--set", "base.train.steps=40",
            "--set", "models={\"dense\":\"" + dense + "\"}", "--set", "seeds=[1]",
            "--set", "grid=[{\"method\":\"sparse\",\"sweep\":{\"lr\":[5]}},{\"method\":\"full\",\"model\":\"dense\",\"sweep\":{\"lr\":[1e-3]}}]");
        Assert.True(code == 0, err);
        var rows = File.ReadAllLines(Path.Combine(dir, ExperimentRun.ResultsFile)).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(2, rows.Count);
        var onDense = Assert.Single(rows, r => r["params"]?["model"]?.GetValue<string>() == "dense");
        Assert.Equal("full", onDense["method"]!.GetValue<string>());
        Assert.Equal("sparse", Assert.Single(rows, r => r["params"]?["model"] is null)["method"]!.GetValue<string>());
        var frozen = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, onDense["dir"]!.GetValue<string>(), "config.json")))!;
        Assert.Equal(dense, frozen["base_model"]!.GetValue<string>());
        Assert.Null(frozen["model"]!["memory"]);                                                               // the dense model's shape, not the base's
        Assert.False(File.Exists(Path.Combine(dense, SparseMemory.Finetuning.BackgroundStatsBuilder.FileName)));   // no memory: nothing to rank
        Assert.True(File.Exists(Path.Combine(dir, "base", SparseMemory.Finetuning.BackgroundStatsBuilder.FileName)));
    }

    [Fact]
    public void A_named_model_that_is_undeclared_unset_or_missing_fails_before_the_experiment_folder_is_created()
    {
        string root = Fixtures.TempDir("exp-models-bad");
        string dir = Path.Combine(root, "exp");
        string grid = "grid=[{\"method\":\"full\",\"model\":\"dense\"}]";
        var (code, _, err) = Smf.Run("experiment", "--preset", "smoke", "--out", dir, "--set", grid);
        Assert.Equal(2, code);
        Assert.Contains("grid[0].model: \"dense\" is not one of models", err);
        (code, _, err) = Smf.Run("experiment", "--preset", "smoke", "--out", dir, "--set", "models={\"dense\":null}", "--set", grid);
        Assert.Equal(2, code);
        Assert.Contains("--set models.dense=DIR", err);
        (code, _, err) = Smf.Run("experiment", "--preset", "smoke", "--out", dir, "--set", "models={\"dense\":\"" + Path.Combine(root, "nowhere") + "\"}", "--set", grid);
        Assert.Equal(2, code);
        Assert.Contains("models.dense:", err);
        Assert.Contains("not a checkpoint folder", err);
        Assert.False(Directory.Exists(dir));
    }

    public static TheoryData<string> Presets => new(SparseMemory.Config.ConfigLoader.PresetNamesOf(SparseMemory.Config.ConfigLoader.ExperimentPresets));

    [Theory]
    [MemberData(nameof(Presets))]
    public void Every_experiment_preset_plans_valid_runs(string preset)
    {
        var cfg = ExperimentRun.LoadConfig(preset, null, null);
        var runs = ExperimentRun.Plan(cfg, Path.Combine(Fixtures.TempDir("plan"), preset));
        Assert.NotEmpty(runs);
        Assert.Equal(runs.Count, runs.Select(r => r.Id).Distinct().Count());
        Assert.All(runs, r => Assert.Contains(r.Seed, cfg.Seeds));
    }

    [Fact]
    public void A_config_file_without_a_preset_builds_on_the_defaults_not_on_the_smoke_preset()
    {
        string file = Path.Combine(Fixtures.TempDir("exp-file"), "exp.json");
        File.WriteAllText(file, """{ "name": "mine", "base_preset": "tiny", "grid": [ { "method": "full", "sweep": { "lr": [1e-3] } } ] }""");
        var smoke = ExperimentRun.LoadConfig(null, null, null);
        Assert.Equal(ExperimentRun.DefaultPreset, smoke.Name);
        Assert.NotEmpty(smoke.Backgrounds);                       // what used to leak into a file's experiment
        var mine = ExperimentRun.LoadConfig(null, file, null);
        Assert.Equal("mine", mine.Name);
        Assert.Empty(mine.Backgrounds);
        Assert.True(mine.Finetune.IsEmpty);
        Assert.Equal(new SparseMemory.Config.ExperimentConfig().ProbeLimit, mine.ProbeLimit);
        var layered = ExperimentRun.LoadConfig("smoke", file, null);   // asked for explicitly, the preset still layers
        Assert.Equal(smoke.Backgrounds, layered.Backgrounds);
    }

    [Fact]
    public void A_grid_entry_may_run_its_own_seeds()
    {
        string root = Fixtures.TempDir("exp-seeds");
        string file = Path.Combine(root, "exp.json");
        File.WriteAllText(file, """{ "name": "s", "base_preset": "tiny", "seeds": [1, 2, 3], "grid": [ { "method": "sparse" }, { "method": "full", "seeds": [2] } ] }""");
        var runs = ExperimentRun.Plan(ExperimentRun.LoadConfig(null, file, null), Path.Combine(root, "out"));
        Assert.Equal([1, 2, 3], runs.Where(r => r.Entry == "sparse").Select(r => r.Seed));
        Assert.Equal([2], runs.Where(r => r.Entry == "full").Select(r => r.Seed));
        File.WriteAllText(file, """{ "name": "s", "base_preset": "tiny", "grid": [ { "method": "full", "seeds": [] } ] }""");
        var e = Assert.Throws<SparseMemory.Config.ConfigException>(() => ExperimentRun.Plan(ExperimentRun.LoadConfig(null, file, null), Path.Combine(root, "out2")));
        Assert.Contains("grid[0].seeds", e.Message);
    }

    [Fact]
    public void A_corrupt_base_model_fails_before_the_experiment_folder_is_created()
    {
        string root = Fixtures.TempDir("exp-badbase");
        string bad = Path.Combine(root, "bad");
        SparseMemory.Runs.Pretraining.Run(Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 2), bad, SparseMemory.Training.NullObserver.Instance);
        string weights = Path.Combine(bad, "model.safetensors");
        File.WriteAllBytes(weights, File.ReadAllBytes(weights)[..5000]);                     // truncated
        string dir = Path.Combine(root, "exp");
        var (code, _, err) = Smf.Run("experiment", "--preset", "smoke", "--set", $"base_model={bad}", "--out", dir);
        Assert.Equal(2, code);
        Assert.Contains("model.safetensors", err);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void A_grid_with_an_unknown_method_or_key_fails_before_anything_is_trained()
    {
        string dir = Path.Combine(Fixtures.TempDir("exp-bad"), "x");
        var (code, _, err) = Smf.Run("experiment", "--preset", "smoke", "--out", dir, "--set", "grid=[{\"method\":\"dense\"},{\"method\":\"sparse\",\"sweep\":{\"sparse.top_k\":[1]}}]");
        Assert.Equal(2, code);
        Assert.Contains("unknown method \"dense\"", err);
        Assert.Contains("sparse.top_k", err);
        Assert.False(Directory.Exists(dir));
    }
}

/// <summary><c>smf demo</c> on a tiny base (the real demo uses the demo preset; the flow is the same).</summary>
public sealed class DemoTests
{
    [Fact]
    public void Demo_shows_questions_before_and_after_and_the_learning_vs_forgetting_table()
    {
        string dir = Path.Combine(Fixtures.TempDir("demo"), "demo");
        var (code, output, err) = Smf.Run("demo", "--out", dir, "--set", "base_preset=tiny", "--set", "base={\"train\":{\"steps\":60},\"data\":{\"known_facts\":\"known\"}}",
            "--set", "background_batches=10", "--set", "finetune={\"data\":{\"facts\":\"new\",\"limit\":4,\"paraphrases\":4}}",
            "--set", "probe_limit=6", "--set", "eval_every=0");
        Assert.True(code == 0, err);
        foreach (var section in new[] { "1. A small language model", "2. It has never seen these facts", "3. Teaching it 4 new facts", "4. The same questions afterwards", "5. What each method learned" })
            Assert.Contains(section, output);
        Assert.Equal(3, output.Split("(true answer:").Length - 1 - 3);            // 3 questions before, 3 after
        foreach (var method in new[] { "sparse", "full", "lora" }) Assert.Contains($"\n{method} ", output);
        Assert.True(File.Exists(Path.Combine(dir, "report.md")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(dir, "plots"), "*.png"));
        // Evaluation lines go to the run log, not to the terminal.
        Assert.DoesNotContain("eval @ step", output + err);
        Assert.Contains("eval @ step 0: target-f1/f1", File.ReadAllText(Path.Combine(dir, "demo.log")));
        Assert.Contains("never the questions asked above and below", output);
    }
}
