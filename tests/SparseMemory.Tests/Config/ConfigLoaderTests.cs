using SparseMemory.Checkpoints;
using SparseMemory.Config;
using Xunit;

namespace SparseMemory.Tests.Config;

public sealed class ConfigLoaderTests
{
    [Fact]
    public void Defaults_are_valid() => Assert.Empty(new PretrainConfig().Validate());

    [Fact]
    public void Every_preset_loads_and_validates()
    {
        Assert.Contains("tiny", ConfigLoader.PresetNames);
        foreach (string p in ConfigLoader.PresetNames)
            ConfigLoader.Load<PretrainConfig>(p, validate: c => c.Validate());
    }

    [Fact]
    public void Set_overrides_nested_keys_with_types()
    {
        var c = ConfigLoader.Load<PretrainConfig>("tiny", sets: ["train.steps=7", "model.memory.layers=[0,1]", "name=abc", "train.lr=0.5"]);
        Assert.Equal(7, c.Train.Steps);
        Assert.Equal([0, 1], c.Model.Memory!.Layers);
        Assert.Equal("abc", c.Name);
        Assert.Equal(0.5, c.Train.Lr);
    }

    [Fact]
    public void Unknown_registry_names_are_errors_listing_the_registered_names()
    {
        var cfg = ConfigLoader.Load<FinetuneConfig>(null, null, ["base_model=x", "sparse.ranker=bogus", "sparse.optimizer=adam", "probes=[\"nope\"]"]);
        var errors = string.Join("\n", SparseMemory.Runs.FinetuneRun.Validate(cfg));
        Assert.Contains("sparse.ranker: unknown ranker \"bogus\"; use one of tf_idf, tf_only, kl, random, all_accessed", errors);
        Assert.Contains("sparse.optimizer: unknown row optimizer \"adam\"; use one of sgd, adam_w", errors);
        Assert.Contains("probes: unknown probe \"nope\"; use one of target-f1, ", errors);
        var method = string.Join("\n", SparseMemory.Runs.FinetuneRun.Validate(cfg with { Method = "dense" }));
        Assert.Contains("method: unknown method \"dense\"; use one of sparse, memory_all, full, lora", method);
    }

    [Fact]
    public void Unknown_set_key_is_an_error_naming_the_key()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load<PretrainConfig>(sets: ["train.stepz=3"]));
        Assert.Contains("train.stepz", e.Message);
        Assert.Contains("steps", e.Message);          // suggestion
    }

    [Fact]
    public void Unknown_key_in_file_is_an_error_naming_file_and_key()
    {
        string f = Path.Combine(Fixtures.TempDir("cfg"), "c.json");
        File.WriteAllText(f, "{ \"train\": { \"batchsize\": 3 } }");
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load<PretrainConfig>(file: f));
        Assert.Contains(f, e.Message);
        Assert.Contains("batchsize", e.Message);
    }

    [Fact]
    public void Invalid_values_are_all_reported()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load<PretrainConfig>(
            sets: ["train.steps=0", "model.memory.top_k=1000", "model.memory.layers=[9]"], validate: c => c.Validate()));
        Assert.Contains("train.steps", e.Message);
        Assert.Contains("model.memory.top_k", e.Message);
        Assert.Contains("block 9", e.Message);
    }

    [Fact]
    public void Wrong_type_is_an_error()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load<PretrainConfig>(sets: ["train.steps=many"]));
        Assert.Contains("steps", e.Message);
    }

    [Fact]
    public void Saved_config_round_trips()
    {
        var c = ConfigLoader.Load<PretrainConfig>("tiny", sets: ["seed=5"]);
        string f = Path.Combine(Fixtures.TempDir("cfg"), "config.json");
        RunFolder.SaveConfig(c, f);
        Assert.Equal(ConfigLoader.ToJson(c), ConfigLoader.ToJson(ConfigLoader.ReadFile<PretrainConfig>(f)));
    }
}
