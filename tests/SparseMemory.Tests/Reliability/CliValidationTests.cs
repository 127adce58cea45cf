using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Runs;
using SparseMemory.Tests.Finetuning;
using SparseMemory.Training;
using Xunit;

namespace SparseMemory.Tests.Reliability;

/// <summary>
/// Checks outside the service (issue 22, item 9): a model's config.json, the context of smf generate, facts, config
/// overrides, option parsing, devices, smf diff and the TriviaQA reader. Each bad input is one line naming the file,
/// key or option, exits 2 and creates nothing. Each test failed before its fix (noted per test).
/// </summary>
public sealed class CliValidationTests(FinetuneFixture fx) : IClassFixture<FinetuneFixture>
{
    static void AssertOneLineError(int code, string err, params string[] mentions)
    {
        Assert.True(code == 2, $"exit code {code}: {err}");
        Assert.Single(err.Trim().Split('\n'), l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", err);
        Assert.DoesNotContain("internal error", err);
        foreach (string m in mentions) Assert.Contains(m, err);
    }

    string NewDir(string name) => Path.Combine(fx.Root, name + "-" + Guid.NewGuid().ToString("N")[..6]);

    /// <summary>A copy of the base checkpoint with <paramref name="edit"/> applied to its config.json.</summary>
    string BaseWithConfig(string name, Action<JsonObject> edit)
    {
        string dir = NewDir(name);
        Directory.CreateDirectory(dir);
        foreach (string f in new[] { Checkpoint.ConfigFile, Checkpoint.TokenizerFile, Checkpoint.ModelFile })
            File.Copy(Path.Combine(fx.BaseDir, f), Path.Combine(dir, f));
        string cfg = Path.Combine(dir, Checkpoint.ConfigFile);
        var tree = JsonNode.Parse(File.ReadAllText(cfg))!.AsObject();
        edit(tree);
        File.WriteAllText(cfg, tree.ToJsonString());
        return dir;
    }

    // Before: only resuming read the whole config.json strictly; generate and finetune --model read the model section
    // alone, so an unknown key elsewhere (a typo, a key from another version) was ignored.
    [Theory]
    [InlineData("colour", null)]
    [InlineData("train", "bogus_rate")]
    [InlineData("data", "corpse")]
    public void Generate_and_finetune_refuse_an_unknown_key_in_the_models_config_naming_file_and_key(string section, string? key)
    {
        string dir = BaseWithConfig("unknown-key", t =>
        {
            if (key is null) t[section] = "blue";
            else t[section]!.AsObject()[key] = 1;
        });
        string cfg = Path.Combine(dir, Checkpoint.ConfigFile);
        string named = key is null ? section : $"{section}.{key}";
        var (code, _, err) = Smf.Run("generate", "--model", dir, "--prompt", "Ada", "--max-tokens", "2");
        AssertOneLineError(code, err, cfg, named);
        string outDir = NewDir("ft-out");
        (code, _, err) = Smf.Run("finetune", "--model", dir, "--data", fx.FactsPath, "--steps", "1", "--out", outDir, "--set", "probes=[]");
        AssertOneLineError(code, err, cfg, named);
        Assert.False(Directory.Exists(outDir));
    }

    // Before: "The node must be of type 'JsonObject'." without the file.
    [Fact]
    public void A_models_config_that_is_a_json_array_names_the_file()
    {
        string dir = BaseWithConfig("array", _ => { });
        string cfg = Path.Combine(dir, Checkpoint.ConfigFile);
        File.WriteAllText(cfg, "[1, 2]");
        var (code, _, err) = Smf.Run("generate", "--model", dir, "--prompt", "Ada", "--max-tokens", "2");
        AssertOneLineError(code, err, cfg, "JSON object");
        // A --config file that is an array was already named (kept as a regression test).
        string file = Path.Combine(fx.Root, "array-" + Guid.NewGuid().ToString("N")[..6] + ".json");
        File.WriteAllText(file, "[1, 2]");
        string outDir = NewDir("array-out");
        (code, _, err) = Smf.Run("pretrain", "--config", file, "--out", outDir);
        AssertOneLineError(code, err, file);
        Assert.False(Directory.Exists(outDir));
    }

    // Before: generation silently conditioned on the prompt's last max_seq_len tokens.
    [Fact]
    public void Generate_says_when_the_prompt_is_longer_than_the_models_context()
    {
        string root = Fixtures.TempDir("ctx");
        var cfg = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 2);
        cfg = cfg with { Model = cfg.Model with { MaxSeqLen = 4 }, Train = cfg.Train with { SeqLen = 4 } };
        string run = Path.Combine(root, "run");
        Pretraining.Run(cfg, run, NullObserver.Instance);
        var (code, _, err) = Smf.Run("generate", "--model", run, "--prompt", "Ada lives in Arden since 1950.", "--max-tokens", "2");
        AssertOneLineError(code, err, "--prompt", "context of 4 tokens", "max_seq_len", Path.Combine(run, Checkpoint.ConfigFile));
        // A prompt that fits runs; generating past the context says that the window slides.
        (code, var output, err) = Smf.Run("generate", "--model", run, "--prompt", "A", "--max-tokens", "6");
        Assert.Equal(0, code);
        Assert.Contains("context of 4 tokens", err);
        Assert.False(string.IsNullOrEmpty(output));
    }

    // Before: a fact with "aliases": [] was read, and QA scoring of it had no accepted answer.
    [Theory]
    [InlineData("[]", "no aliases")]
    [InlineData("[\"Zorn\", \" \"]", "a blank alias")]
    public void A_fact_without_aliases_is_refused_with_file_and_line(string aliases, string said)
    {
        string path = Path.Combine(fx.Root, "facts-" + Guid.NewGuid().ToString("N")[..6] + ".jsonl");
        File.WriteAllLines(path,
        [
            File.ReadLines(fx.FactsPath).First(),
            $$"""{"id": "z1", "subject": "Zed", "relation": "home", "object": "Zorn", "aliases": {{aliases}}, "question": "Where does Zed live?", "statements": ["Zed lives in Zorn."], "source": "test"}""",
        ]);
        var e = Assert.Throws<InvalidDataException>(() => SparseMemory.Data.Facts.FactsFile.Read(path));
        Assert.StartsWith($"{path}:2: ", e.Message);
        Assert.Contains(said, e.Message);
        string outDir = NewDir("aliases-out");
        var (code, _, err) = Smf.Run("finetune", "--model", fx.BaseDir, "--data", path, "--steps", "1", "--out", outDir, "--set", "probes=[]");
        AssertOneLineError(code, err, $"{path}:2:", "aliases");
        Assert.False(Directory.Exists(outDir));
    }

    // Before: "triviaqa.jsonl:2: …", the base name only, which does not say which of several copies is broken.
    [Fact]
    public void TriviaQa_reader_errors_name_the_full_path()
    {
        string dir = Fixtures.TempDir("tqa");
        string path = Path.Combine(dir, "triviaqa.jsonl");
        File.WriteAllLines(path,
        [
            """{"context": "Question: Who wrote Emma?\nAnswer:", "answer": "Jane Austen", "aliases": ["Austen"]}""",
            """{"context": "Who wrote Emma?", "answer": "Jane Austen", "aliases": []}""",
        ]);
        var e = Assert.Throws<InvalidDataException>(() => SparseMemory.Data.Benchmarks.TriviaQa.Read(path));
        Assert.StartsWith($"{path}:2: ", e.Message);
    }
}
