using SparseMemory.Config;
using SparseMemory.Tests.Finetuning;
using Xunit;

namespace SparseMemory.Tests.Cli;

/// <summary>
/// bench, eval and background are config-driven like the other verbs: flags are shortcuts for keys, <c>--config</c> and
/// <c>--set</c> layer over them, an unknown key is a one-line error naming it, and the resolved config is frozen beside
/// the output (<see cref="ConfigLoader.FrozenName"/>) and reads back as the same config.
/// </summary>
public sealed class VerbConfigTests(FinetuneFixture fx) : IClassFixture<FinetuneFixture>
{
    static void AssertFrozen<T>(string output, Action<T> check)
    {
        string frozen = ConfigLoader.FrozenName(output);
        Assert.True(File.Exists(frozen), $"no frozen config beside {output}");
        var cfg = ConfigLoader.ReadFile<T>(frozen);                             // unknown keys would be errors here
        Assert.Equal(File.ReadAllText(frozen), ConfigLoader.ToJson(cfg) + "\n");  // and it writes back byte for byte
        check(cfg);
    }

    static void AssertOneLineError(int code, string err, params string[] mentions)
    {
        Assert.True(code == 2, $"exit code {code}: {err}");
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("error:", err.Trim());
        foreach (string m in mentions) Assert.Contains(m, err);
    }

    [Fact]
    public void Eval_freezes_its_config_beside_the_results_and_a_config_file_layers_under_the_flags()
    {
        string dir = Fixtures.TempDir("eval-cfg");
        string file = Path.Combine(dir, "eval.json");
        File.WriteAllText(file, """{ "probes": ["known-facts-f1"], "limit": 3, "seed": 7 }""");
        string output = Path.Combine(dir, "results.jsonl");
        var (code, _, err) = Smf.Run("eval", "--model", fx.BaseDir, "--config", file, "--limit", "2", "--target-facts", fx.FactsPath, "--out", output);
        Assert.True(code == 0, err);
        Assert.Single(File.ReadAllLines(output));
        AssertFrozen<EvalConfig>(output, c =>
        {
            Assert.Equal(["known-facts-f1"], c.Probes!);           // from the file
            Assert.Equal(2, c.Limit);                              // the flag over the file
            Assert.Equal(7, c.Seed);
            Assert.Equal(fx.FactsPath, c.TargetFacts);
            Assert.NotNull(c.BatchSize);                           // defaults are resolved before freezing
        });
        Assert.EndsWith("results-config.json", ConfigLoader.FrozenName(output));
    }

    [Fact]
    public void Background_freezes_its_config_beside_the_statistics()
    {
        string dir = Fixtures.TempDir("bg-cfg");
        string output = Path.Combine(dir, "bg.safetensors");
        var (code, _, err) = Smf.Run("background", "--model", fx.BaseDir, "--batches", "2", "--set", "seq_len=8", "--out", output);
        Assert.True(code == 0, err);
        Assert.True(File.Exists(output));
        AssertFrozen<BackgroundConfig>(output, c => Assert.Equal((fx.BaseDir, 2, 8), (c.Model, c.Batches, c.SeqLen)));
    }

    [Fact]
    public void Bench_freezes_its_config_beside_the_result()
    {
        string dir = Fixtures.TempDir("bench-cfg");
        string output = Path.Combine(dir, "bench.json");
        var (code, _, err) = Smf.Run("bench", "--preset", "tiny", "--steps", "1", "--warmup", "1", "--rounds", "1", "--top-t", "16",
            "--set", "base.model.memory.num_keys=8", "--out", output);
        Assert.True(code == 0, err);
        Assert.NotNull(System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(output))!["methods"]);
        AssertFrozen<BenchConfig>(output, c =>
        {
            Assert.Equal("tiny", c.BasePreset);
            Assert.Equal((1, 1, 1, 16), (c.Steps, c.Warmup, c.Rounds, c.TopT));
            Assert.Equal(8, c.Base.Tree["model"]!["memory"]!["num_keys"]!.GetValue<int>());
        });
    }

    [Theory]
    [InlineData("eval", "limt")]
    [InlineData("background", "batchs")]
    [InlineData("bench", "rounds_")]
    public void An_unknown_key_is_a_one_line_error_naming_it(string verb, string key)
    {
        string dir = Fixtures.TempDir($"{verb}-badkey");
        string output = Path.Combine(dir, "out.json");
        string[] model = verb == "bench" ? ["--preset", "tiny"] : ["--model", fx.BaseDir];
        var (code, _, err) = Smf.Run([verb, .. model, "--set", $"{key}=3", "--out", output]);
        AssertOneLineError(code, err, $"\"{key}\"");

        string file = Path.Combine(dir, "cfg.json");
        File.WriteAllText(file, $$"""{ "{{key}}": 3 }""");
        (code, _, err) = Smf.Run([verb, .. model, "--config", file, "--out", output]);
        AssertOneLineError(code, err, file, key);
        Assert.False(File.Exists(output));
        Assert.False(File.Exists(ConfigLoader.FrozenName(output)));
    }

    [Theory]
    [InlineData("eval", "--limit", "0", "limit must be positive")]
    [InlineData("background", "--batch-size", "0", "batch_size must be ≥ 1")]
    [InlineData("bench", "--rounds", "0", "--rounds must be ≥ 1")]
    public void A_flag_value_is_checked_by_the_config_rule_alone(string verb, string option, string value, string message)
    {
        string[] model = verb == "bench" ? ["--preset", "tiny"] : ["--model", fx.BaseDir];
        var (code, _, err) = Smf.Run([verb, .. model, option, value]);
        Assert.True(code == 2, err);
        Assert.Contains(message, err);
        Assert.Contains(option, err);
    }
}
