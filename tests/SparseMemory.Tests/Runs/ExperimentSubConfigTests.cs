using System.Text.Json.Nodes;
using SparseMemory.Config;
using SparseMemory.Finetuning;
using SparseMemory.Runs;
using Xunit;

namespace SparseMemory.Tests.Runs;

/// <summary>
/// An experiment's sub-configs (<c>base</c>, <c>finetune</c>, <c>grid[].finetune</c>) are partial configs of the pretrain
/// and finetune schema. The presets were converted from <c>key=value</c> string lists; Runs/Data/legacy-experiment-sets.json
/// holds those lists as they were, and every preset must still resolve to the same base and run configs through them.
/// </summary>
public sealed class ExperimentSubConfigTests
{
    /// <summary>The presets that existed as string lists (presets written after the conversion have no old form).</summary>
    public static TheoryData<string> Presets => new(LegacyFile().Select(kv => kv.Key));

    static JsonObject LegacyFile()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SparseMemory.sln"))) dir = dir.Parent;
        Assert.True(dir is not null, "repository root (SparseMemory.sln) not found above the test binaries");
        return JsonNode.Parse(File.ReadAllText(Path.Combine(dir!.FullName, "tests", "SparseMemory.Tests", "Runs", "Data", "legacy-experiment-sets.json")))!.AsObject();
    }

    static JsonObject Legacy(string preset) =>
        LegacyFile()[preset]?.AsObject() ?? throw new Xunit.Sdk.XunitException($"no legacy sets recorded for preset {preset}");

    [Fact]
    public void Every_recorded_preset_still_exists()
    {
        var names = ConfigLoader.PresetNamesOf(ConfigLoader.ExperimentPresets).ToHashSet();
        Assert.All(LegacyFile().Select(kv => kv.Key), p => Assert.Contains(p, names));
    }

    static string[] Strings(JsonNode? n) => n!.AsArray().Select(x => x!.GetValue<string>()).ToArray();

    [Theory]
    [MemberData(nameof(Presets))]
    public void A_converted_preset_resolves_to_the_configs_its_string_overrides_gave(string preset)
    {
        var legacy = Legacy(preset);
        var cfg = ExperimentRun.LoadConfig(preset, null, null);
        string outDir = Path.Combine("OUT", preset);
        var gridSets = legacy["grid_set"]!.AsArray().Select(Strings).ToArray();
        Assert.Equal(cfg.Grid.Length, gridSets.Length);

        // The base models: the old base_set strings plus the sweep point, against the typed base section.
        foreach (var b in ExperimentRun.Bases(cfg, outDir).Where(_ => cfg.BaseModel is null))
        {
            var before = ConfigLoader.Load<PretrainConfig>(cfg.BasePreset, null,
                Strings(legacy["base_set"]).Concat(b.Params.Select(kv => $"{kv.Key["base.".Length..]}={kv.Value}")));
            var after = ConfigLoader.Load<PretrainConfig>(cfg.BasePreset, null, b.Layers);
            Assert.Equal(ConfigLoader.ToJson(before), ConfigLoader.ToJson(after));
        }

        // Every run: the old order of string overrides (recipe, fixed keys, finetune, grid[].set, grid point).
        var runs = ExperimentRun.Plan(cfg, outDir);
        Assert.NotEmpty(runs);
        foreach (var r in runs)
        {
            int g = Enumerable.Range(0, cfg.Grid.Length).Single(i =>
                (cfg.Grid[i].Label ?? FinetuneMethods.Registry.Get(cfg.Grid[i].Method, "method").Name) == r.Entry
                && FinetuneMethods.Registry.Get(cfg.Grid[i].Method, "method").Name == r.Method
                && cfg.Grid[i].Sweep.Keys.All(r.Params.ContainsKey));
            var recipe = cfg.BaseModel is not null ? new Dictionary<string, string[]>()
                : ConfigLoader.Load<PretrainConfig>(cfg.BasePreset, null,
                    Strings(legacy["base_set"]).Concat(r.Base.Params.Select(kv => $"{kv.Key["base.".Length..]}={kv.Value}"))).Finetune;
            var sets = new List<string>(FinetuneRecipe.Sets(recipe, r.Method))
            {
                $"base_model={r.Base.Dir}", $"method={r.Method}", $"seed={r.Seed}", $"probe_limit={cfg.ProbeLimit}", $"eval_every={cfg.EvalEvery}",
                "probes=[" + string.Join(",", cfg.Probes.Select(p => $"\"{p}\"")) + "]",
            };
            sets.AddRange(Strings(legacy["finetune"]).Select(x => x.Replace(ExperimentRun.BasePlaceholder, r.Base.Dir)));
            sets.AddRange(gridSets[g].Select(x => x.Replace(ExperimentRun.BasePlaceholder, r.Base.Dir)));
            sets.AddRange(r.Params.Where(kv => !kv.Key.StartsWith("base.", StringComparison.Ordinal)).Select(kv => $"{kv.Key}={kv.Value}"));
            var before = FinetuneMethods.Canonical(ConfigLoader.Load<FinetuneConfig>(null, null, sets));
            Assert.Equal(ConfigLoader.ToJson(before), ConfigLoader.ToJson(r.Config));
        }
    }

    [Fact]
    public void An_unknown_key_in_a_sub_config_is_one_error_naming_it()
    {
        string file = Path.Combine(Fixtures.TempDir("exp-sub"), "exp.json");
        File.WriteAllText(file, """{ "name": "x", "finetune": { "data": { "limt": 3 } }, "grid": [ { "method": "full" } ] }""");
        var e = Assert.Throws<ConfigException>(() => ExperimentRun.LoadConfig(null, file, null));
        Assert.Contains("\"data.limt\"", e.Message);
        Assert.Contains("finetune", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        File.WriteAllText(file, """{ "name": "x", "base": { "train": { "stpes": 3 } }, "grid": [ { "method": "full", "finetune": { "lr": 1 } } ] }""");
        e = Assert.Throws<ConfigException>(() => ExperimentRun.LoadConfig(null, file, null));
        Assert.Contains("\"train.stpes\"", e.Message);

        File.WriteAllText(file, """{ "name": "x", "grid": [ { "method": "full", "finetune": { "sparse": { "rankr": "kl" } } } ] }""");
        e = Assert.Throws<ConfigException>(() => ExperimentRun.LoadConfig(null, file, null));
        Assert.Contains("\"sparse.rankr\"", e.Message);
        Assert.Contains("grid[0].finetune", e.Message);

        e = Assert.Throws<ConfigException>(() => ExperimentRun.LoadConfig("smoke", null, ["finetune.data.limt=3"]));
        Assert.Contains("finetune.data.limt", e.Message);
        Assert.Contains("did you mean \"limit\"", e.Message);
    }

    [Fact]
    public void A_set_reaches_into_a_sub_config_by_its_schema_and_layers_over_the_preset()
    {
        // demo's finetune section has data.facts and data.limit but no data.paraphrases: --set adds it, keeping the rest.
        var cfg = ExperimentRun.LoadConfig("demo", null, ["finetune.data.paraphrases=5", "base.train.steps=7"]);
        var data = cfg.Finetune.Tree["data"]!.AsObject();
        Assert.Equal(5, data["paraphrases"]!.GetValue<int>());
        Assert.Equal("new", data["facts"]!.GetValue<string>());
        Assert.Equal(7, ExperimentRun.BaseConfig(cfg).Train.Steps);
        Assert.Equal(ExperimentRun.BaseConfig(ExperimentRun.LoadConfig("demo", null, null)).Data.MaxChars, ExperimentRun.BaseConfig(cfg).Data.MaxChars);
        Assert.All(ExperimentRun.Plan(cfg, Path.Combine("OUT", "demo-set")), r => Assert.Equal(5, r.Config.Data.Paraphrases));
    }

    [Fact]
    public void The_frozen_experiment_config_reads_back_equal()
    {
        var cfg = ExperimentRun.LoadConfig("paper", null, null);
        string path = Path.Combine(Fixtures.TempDir("exp-freeze"), "config.json");
        SparseMemory.Checkpoints.RunFolder.SaveConfig(cfg, path);
        var back = ConfigLoader.ReadFile<ExperimentConfig>(path);
        Assert.Equal(ConfigLoader.ToJson(cfg), ConfigLoader.ToJson(back));
        Assert.Equal(cfg.Finetune, back.Finetune);
        Assert.Contains("sparse-bg_known", File.ReadAllText(path));
    }
}
