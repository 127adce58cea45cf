using System.Text.Json;
using SparseMemory.Config;
using SparseMemory.Runs;
using SparseMemory.Benchmarks;
using Xunit;

namespace SparseMemory.Tests.Runs;

/// <summary>
/// The benchmark suite in a tiny configuration (one round, one step each): the JSON has its shape and every scenario,
/// with finite positive numbers. Nothing here asserts a timing.
/// </summary>
public sealed class BenchSuiteTests
{
    static readonly PretrainConfig Tiny = new()
    {
        Name = "bench-test",
        Seed = 3,
        Model = new ModelConfig
        {
            VocabSize = 300, Dim = 32, Layers = 2, Heads = 2, FfnHidden = 64, MaxSeqLen = 32,
            Memory = new MemoryConfig { Layers = [1], NumKeys = 8, Heads = 2, TopK = 4, KeyDim = 16 },
        },
        Train = new TrainConfig { BatchSize = 4, SeqLen = 16 },
    };

    static readonly BenchSuiteOptions TinyOptions = new()
    {
        Quick = true, Rounds = 1, WarmupRounds = 1, BatchSize = 2, SeqLen = 8, TopT = 8,
        FinetuneWarmupSteps = 1, FinetuneSteps = 1, PretrainWarmupSteps = 1, PretrainSteps = 1,
        MemoryKeys = [4, 8, 16], MemoryWarmupSteps = 1, MemorySteps = 1, LargeMemorySlots = 256, LargeMemorySteps = 1,
        BackgroundBatches = 2, GenerationTokens = 5, MatmulSize = 64, MatmulReps = 1, TokenizerChars = 20_000, Seed = 3,
    };

    static double Positive(JsonElement o, string key)
    {
        Assert.True(o.TryGetProperty(key, out var v), $"{(o.TryGetProperty("name", out var n) ? n.GetString() : "root")}: no {key}");
        Assert.Equal(JsonValueKind.Number, v.ValueKind);
        double x = v.GetDouble();
        Assert.True(double.IsFinite(x) && x > 0, $"{key} = {x}");
        return x;
    }

    [Fact]
    public void The_suite_writes_every_scenario_with_finite_positive_numbers()
    {
        var result = BenchSuite.Run(Tiny, TinyOptions);
        string dir = Fixtures.TempDir("bench-suite");
        string path = Path.Combine(dir, "bench.json");
        result.Save(path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        Assert.Equal(BenchSuite.Schema, root.GetProperty("schema").GetString());
        Assert.Equal("quick", root.GetProperty("mode").GetString());
        Positive(root, "sparse_step_ratio");
        Positive(root, "sparse_floor_ratio");
        Positive(root, "matmul_peak_gflops");
        Assert.Equal(2, root.GetProperty("sparse_step_ratio_range").GetArrayLength());
        var env = root.GetProperty("environment");
        Positive(env, "threads");
        Assert.False(string.IsNullOrEmpty(env.GetProperty("torch_version").GetString()));

        var scenarios = root.GetProperty("scenarios").EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!);
        var methods = StepBenchmark.Methods(Tiny.Model, TinyOptions.TopT, TinyOptions.Seed, everyRanker: true).Select(m => m.Id).ToList();
        var expected = new List<string> { "matmul_fp32_64", "pretrain_step", "background_stats", "forward_only", "generation" };
        expected.AddRange(methods.Select(m => $"finetune/{m}"));
        foreach (long slots in new long[] { 16, 64, 256 })
            expected.AddRange([$"memory/{slots}/sparse", $"memory/{slots}/full", $"memory/{slots}/pretrain"]);
        Assert.Equal(expected.Order(), scenarios.Keys.Order());
        // Every registered method, every other row optimizer and ranker of the sparse method, and the floor.
        Assert.Contains("full", methods);
        Assert.Contains("floor", methods);
        Assert.Contains("sparse+adam_w", methods);
        Assert.Contains("sparse+kl", methods);
        Assert.Contains("memory_all", methods);
        Assert.Contains("lora", methods);

        foreach (var (name, s) in scenarios)
        {
            Positive(s, "median_ms");
            Assert.Equal(1, s.GetProperty("ms_per_round").GetArrayLength());
            if (OperatingSystem.IsLinux()) Positive(s, "peak_rss_mb");
            bool ratioToFull = name.StartsWith("finetune/", StringComparison.Ordinal) || name.EndsWith("/sparse", StringComparison.Ordinal) || name.EndsWith("/full", StringComparison.Ordinal);
            if (ratioToFull) Positive(s, "ratio_to_full");
            else Assert.False(s.TryGetProperty("ratio_to_full", out _), name);
            if (name.EndsWith("pretrain", StringComparison.Ordinal) || name == "pretrain_step")
            {
                Positive(s, "tokens_per_s");
                Positive(s, "mfu");
                Positive(s, "flops_per_token");
                Positive(s, "n_active");
            }
            if (name is "background_stats" or "forward_only" or "generation") Positive(s, "tokens_per_s");
        }
        Positive(scenarios["background_stats"], "ratio_to_forward");
        Positive(scenarios["matmul_fp32_64"], "gflops");
        Assert.Equal(1.0, scenarios["finetune/full"].GetProperty("ratio_to_full").GetDouble());
        // The model's own size is the scenarios above, reported under both names rather than rerun.
        Assert.Equal("finetune/sparse", scenarios["memory/64/sparse"].GetProperty("same_as").GetString());
        Assert.Equal("pretrain_step", scenarios["memory/64/pretrain"].GetProperty("same_as").GetString());
        Assert.Equal(scenarios["pretrain_step"].GetProperty("median_ms").GetDouble(), scenarios["memory/64/pretrain"].GetProperty("median_ms").GetDouble());
        // The top-level ratios are the scenarios' within-round ratios.
        Assert.Equal(scenarios["finetune/sparse"].GetProperty("ratio_to_full").GetDouble(), root.GetProperty("sparse_step_ratio").GetDouble(), 6);
        Assert.Equal(scenarios["finetune/sparse"].GetProperty("ratio_to_floor").GetDouble(), root.GetProperty("sparse_floor_ratio").GetDouble(), 6);

        string table = result.Table.ToText();
        Assert.Contains("floor: fwd + bwd to memory reads", table);
        Assert.Equal(scenarios.Count, result.Table.Rows.Count);
    }

    [Fact]
    public void Active_parameters_count_only_the_value_rows_a_token_reads()
    {
        var cfg = Tiny.Model;
        var (small, _) = BenchSuite.FlopsPerToken(cfg, 16);
        var (large, flops) = BenchSuite.FlopsPerToken(cfg with { Memory = cfg.Memory! with { NumKeys = 64 } }, 16);
        // 64² instead of 8² value rows changes nothing a token reads; only the sub-keys grow (H × ΔN × Dk).
        Assert.Equal(small + 2L * (64 - 8) * 16, large);
        Assert.Equal(6.0 * large + 12.0 * cfg.Layers * 16 * cfg.Dim, flops);
        var dense = BenchSuite.FlopsPerToken(cfg with { Memory = null }, 16).NActive;
        Assert.True(dense > 0);
    }

    [Fact]
    public void Invalid_settings_are_reported()
    {
        var e = Assert.Throws<ArgumentException>(() => BenchSuite.Run(Tiny, TinyOptions with { Rounds = 0, MemoryKeys = [1] }));
        Assert.Contains("--rounds", e.Message);
        Assert.Contains("--memory-keys", e.Message);
    }
}
