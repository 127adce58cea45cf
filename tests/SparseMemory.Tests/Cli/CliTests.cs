using SparseMemory.Checkpoints;
using SparseMemory.Runs;
using SparseMemory.Cli;
using SparseMemory.Config;
using Xunit;

namespace SparseMemory.Tests.Cli;

public sealed class CliTests
{

    [Fact]
    public void Help_lists_the_verbs()
    {
        var (code, output, _) = Smf.Run("--help");
        Assert.Equal(0, code);
        var verbs = SmfApp.CreateRoot().Subcommands;
        Assert.NotEmpty(verbs);
        // Each verb on a line of its own in the commands list, with its description (not a mere substring of other text).
        foreach (var verb in verbs)
            Assert.Matches(new System.Text.RegularExpressions.Regex($@"(?m)^\s+{System.Text.RegularExpressions.Regex.Escape(verb.Name)}\b.*\s{System.Text.RegularExpressions.Regex.Escape(FirstWords(verb.Description))}"), output);
    }

    /// <summary>Every command of the CLI's verb table (<see cref="SmfApp.CreateRoot"/>), nested ones as "data build".</summary>
    public static TheoryData<string> Verbs()
    {
        var d = new TheoryData<string>();
        void Add(System.CommandLine.Command c, string prefix)
        {
            foreach (var sub in c.Subcommands) { d.Add(prefix + sub.Name); Add(sub, prefix + sub.Name + " "); }
        }
        Add(SmfApp.CreateRoot(), "");
        return d;
    }

    [Theory]
    [MemberData(nameof(Verbs))]
    public void Every_verb_prints_its_usage_with_help(string verb)
    {
        var path = verb.Split(' ');
        var (code, output, err) = Smf.Run([.. path, "--help"]);
        Assert.True(code == 0, $"smf {verb} --help exited {code}: {err}");
        var command = path.Aggregate((System.CommandLine.Command)SmfApp.CreateRoot(), (c, name) => c.Subcommands.Single(s => s.Name == name));
        Assert.Contains("Usage:", output);
        Assert.Matches(new System.Text.RegularExpressions.Regex($@"(?m)^\s+\S+ {System.Text.RegularExpressions.Regex.Escape(verb)}\b"), output);   // "  smf VERB [options]"
        Assert.Contains(FirstWords(command.Description), output);
        Assert.All(command.Options.Where(o => !o.Hidden), o => Assert.Contains(o.Name, output));
    }

    /// <summary>The first words of a description (help output wraps long lines).</summary>
    static string FirstWords(string? description) => string.Join(' ', (description ?? "").Split(' ').Take(3));

    [Fact]
    public void Missing_corpus_file_is_a_one_line_error_and_writes_nothing()
    {
        string dir = Path.Combine(Fixtures.TempDir("cli"), "run");
        var (code, _, err) = Smf.Run("pretrain", "--preset", "tiny", "--set", "data.corpus=[\"/nonexistent/corpus.txt\"]", "--out", dir);
        Assert.NotEqual(0, code);
        Assert.Contains("/nonexistent/corpus.txt", err);
        Assert.Single(err.Trim().Split('\n'), l => l.StartsWith("error:"));
        Assert.False(Directory.Exists(dir) && File.Exists(Path.Combine(dir, "model.safetensors")));
    }

    [Fact]
    public void Invalid_config_value_is_an_error_and_nothing_is_written()
    {
        string dir = Path.Combine(Fixtures.TempDir("cli"), "run");
        var (code, _, err) = Smf.Run("pretrain", "--set", "train.batch_size=-1", "--out", dir);
        Assert.Equal(2, code);
        Assert.Contains("train.batch_size", err);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void Non_run_folder_is_not_overwritten()
    {
        string dir = Fixtures.TempDir("cli");
        File.WriteAllText(Path.Combine(dir, "precious.txt"), "keep");
        var (code, _, err) = Smf.Run("pretrain", "--out", dir);
        Assert.Equal(2, code);
        Assert.Contains("refusing to overwrite", err);
        Assert.Equal("keep", File.ReadAllText(Path.Combine(dir, "precious.txt")));
    }

    [Fact]
    public void Truncated_checkpoint_gives_a_clear_error()
    {
        string root = Fixtures.TempDir("cli");
        var cfg = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 4);
        string run = Path.Combine(root, "run");
        SparseMemory.Runs.Pretraining.Run(cfg, run, SparseMemory.Training.NullObserver.Instance);
        string weights = Path.Combine(run, "model.safetensors");
        var before = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, before[..100]);
        var (code, _, err) = Smf.Run("generate", "--model", run, "--prompt", "Ada", "--max-tokens", "3");
        Assert.Equal(2, code);
        Assert.Contains("model.safetensors", err);
        Assert.Equal(100, new FileInfo(weights).Length);      // nothing rewritten
    }

    [Fact]
    public void Pretrain_resume_on_a_finished_run_reports_complete()
    {
        string root = Fixtures.TempDir("cli");
        string corpus = Fixtures.WriteCorpus(root);
        string cfgFile = Path.Combine(root, "cfg.json");
        RunFolder.SaveConfig(Fixtures.TinyConfig(corpus, steps: 4), cfgFile);
        string run = Path.Combine(root, "run");
        Assert.Equal(0, Smf.Run("pretrain", "--preset", "tiny", "--config", cfgFile, "--out", run).Code);
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(run, "model.safetensors"));
        var (code, _, err) = Smf.Run("pretrain", "--preset", "tiny", "--config", cfgFile, "--out", run);
        Assert.Equal(0, code);
        Assert.Contains("already complete", err);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(run, "model.safetensors")));
        var (gcode, gout, _) = Smf.Run("generate", "--model", run, "--prompt", "Ada", "--max-tokens", "5");
        Assert.Equal(0, gcode);
        Assert.False(string.IsNullOrEmpty(gout));
    }
}

public sealed class BenchCliTests
{
    [Fact]
    public void Bench_json_reports_every_method_with_within_round_ratios_to_full_finetuning()
    {
        var (code, output, err) = Smf.Run("bench", "--preset", "tiny", "--steps", "2", "--warmup", "1", "--rounds", "2", "--top-t", "16", "--json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var methods = doc.RootElement.GetProperty("methods").EnumerateArray().ToList();
        // Full finetuning first (the denominator), every other registered method, the other row optimizers of sparse, the floor.
        var names = methods.Select(m => m.GetProperty("method").GetString()!).ToList();
        Assert.Equal("full (AdamW)", names[0]);
        Assert.Equal(SparseMemory.Benchmarks.StepBenchmark.FloorName, names[^1]);
        Assert.Equal(SparseMemory.Finetuning.FinetuneMethods.Registry.All.Count + SparseMemory.Finetuning.RowOptimizers.Registry.All.Count, names.Count);
        Assert.Contains("sparse t=16 (sgd, tf_idf)", names);
        Assert.Contains("sparse t=16 (adam_w, tf_idf)", names);
        Assert.Contains("lora r=8 α=16 (AdamW)", names);
        foreach (var m in methods)
        {
            var ms = m.GetProperty("ms_per_step").EnumerateArray().Select(x => x.GetDouble()).ToList();
            var ratios = m.GetProperty("ratio_to_full").EnumerateArray().Select(x => x.GetDouble()).ToList();
            Assert.Equal(2, ms.Count);
            Assert.All(ms, x => Assert.True(x > 0));
            Assert.Equal(2, ratios.Count);
        }
        // The ratio of full finetuning to itself is exactly 1; the others are formed within each round.
        Assert.All(methods[0].GetProperty("ratio_to_full").EnumerateArray(), r => Assert.Equal(1.0, r.GetDouble()));
        var fullMs = methods[0].GetProperty("ms_per_step").EnumerateArray().Select(x => x.GetDouble()).ToList();
        var lora = methods[1];
        var loraMs = lora.GetProperty("ms_per_step").EnumerateArray().Select(x => x.GetDouble()).ToList();
        var loraRatio = lora.GetProperty("ratio_to_full").EnumerateArray().Select(x => x.GetDouble()).ToList();
        for (int r = 0; r < 2; r++) Assert.Equal(loraMs[r] / fullMs[r], loraRatio[r], 12);
    }

    [Fact]
    public void Bench_quick_writes_the_suite_json_and_prints_the_table()
    {
        string dir = Fixtures.TempDir("bench-cli");
        string path = Path.Combine(dir, "bench.json");
        var (code, output, err) = Smf.Run("bench", "--preset", "tiny", "--quick", "--memory-keys", "8", "--rounds", "1", "--warmup-rounds", "0",
            "--steps", "1", "--warmup", "1", "--top-t", "16", "--out", path);
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        Assert.Equal("quick", root.GetProperty("mode").GetString());
        Assert.True(root.GetProperty("sparse_step_ratio").GetDouble() > 0);
        Assert.True(root.GetProperty("sparse_floor_ratio").GetDouble() > 0);
        var names = root.GetProperty("scenarios").EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToList();
        Assert.Contains("memory/64/sparse", names);
        Assert.Contains("generation", names);
        Assert.Equal(1, root.GetProperty("settings").GetProperty("rounds").GetInt32());            // explicit options override the mode's defaults
        Assert.Equal(16, root.GetProperty("settings").GetProperty("top_t").GetInt32());
        Assert.Contains("sparse step ÷ full step", output);
        Assert.Contains("floor: fwd + bwd to memory reads", output);
    }

    [Fact]
    public void Bench_suite_options_without_the_suite_are_an_error()
    {
        var (code, _, err) = Smf.Run("bench", "--preset", "tiny", "--memory-keys", "8");
        Assert.Equal(2, code);
        Assert.Contains("--quick", err);
        (code, _, err) = Smf.Run("bench", "--preset", "tiny", "--quick", "--decode", "4");    // separate benchmarks
        Assert.Equal(2, code);
        Assert.Contains("--decode", err);
    }

    [Fact]
    public void Bench_paths_times_one_method_with_the_reference_and_the_fast_kernels()
    {
        var (code, output, err) = Smf.Run("bench", "--preset", "tiny", "--paths", "full", "--steps", "1", "--warmup", "1", "--rounds", "2", "--json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var methods = doc.RootElement.GetProperty("methods").EnumerateArray().ToList();
        var names = methods.Select(m => m.GetProperty("method").GetString()!).ToList();
        Assert.Equal("reference kernels", names[0]);
        Assert.Equal("all fast paths", names[1]);
        Assert.Equal(SparseMemory.Config.FastPaths.All.Count > 1 ? 2 + SparseMemory.Config.FastPaths.All.Count : 2, names.Count);
        Assert.All(methods[0].GetProperty("ratio_to_full").EnumerateArray(), r => Assert.Equal(1.0, r.GetDouble()));
        Assert.All(methods, m => Assert.All(m.GetProperty("cpu_ms_per_step").EnumerateArray(), x => Assert.True(x.GetDouble() > 0)));
        (code, _, err) = Smf.Run("bench", "--preset", "tiny", "--paths", "nonsense", "--rounds", "1");
        Assert.NotEqual(0, code);
        Assert.Contains("--paths", err);
    }

    [Fact]
    public void Bench_decode_times_both_generation_paths_and_they_agree()
    {
        var (code, output, err) = Smf.Run("bench", "--preset", "tiny", "--decode", "6", "--rows", "3", "--prompt-len", "8", "--rounds", "2", "--json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("tokens_identical").GetBoolean());
        foreach (string key in new[] { "reference_tokens_per_s", "kv_cache_tokens_per_s", "speedup" })
            Assert.All(root.GetProperty(key).EnumerateArray().ToList(), x => Assert.True(x.GetDouble() > 0, key));
        Assert.Equal(2, root.GetProperty("speedup").GetArrayLength());
        (code, _, err) = Smf.Run("bench", "--preset", "tiny", "--decode", "4", "--rows", "0");
        Assert.NotEqual(0, code);
        Assert.Contains("--rows", err);
    }

    [Theory]
    [InlineData("--rounds", "0")]
    [InlineData("--steps", "0")]
    [InlineData("--top-t", "0")]
    [InlineData("--decode", "-1")]
    public void Bench_rejects_non_positive_settings(string option, string value)
    {
        var (code, _, err) = Smf.Run("bench", "--preset", "tiny", option, value);
        Assert.NotEqual(0, code);
        Assert.Contains(option, err);
    }
}
