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

    string Corpus() => Fixtures.WriteCorpus(Fixtures.TempDir("cfg"), documents: 20);

    // Before: vocab_size trained a 2,147,483,647-entry tokenizer until OutOfMemoryException ("internal error"), and
    // batch_size 1e9 overflowed int arithmetic in the batch source; both after --out was created.
    [Theory]
    [InlineData("model.vocab_size=2147483647", "model.vocab_size")]
    [InlineData("train.batch_size=1000000000", "train.batch_size")]
    public void A_config_that_cannot_fit_in_memory_is_refused_up_front_with_the_estimate(string set, string key)
    {
        string outDir = NewDir("mem-out");
        var (code, _, err) = Smf.Run("pretrain", "--preset", "tiny", "--set", $"data.corpus=[\"{Corpus()}\"]", "--set", set, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains(key, err);
        Assert.Contains("GiB", err);                                 // the estimate
        Assert.Contains("this machine has", err);
        Assert.DoesNotContain("internal error", err);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void The_memory_estimate_is_a_lower_bound_that_grows_with_vocab_batch_and_never_overflows()
    {
        var cfg = SparseMemory.Config.ConfigLoader.Load<SparseMemory.Config.PretrainConfig>("tiny");
        var (model, act, parameters) = cfg.TrainingMemoryLowerBound();
        Assert.InRange(parameters, 1, 10_000_000);
        Assert.True(model > 0 && act > 0);
        var huge = cfg with { Model = cfg.Model with { VocabSize = int.MaxValue }, Train = cfg.Train with { BatchSize = int.MaxValue } };
        var (hm, ha, _) = huge.TrainingMemoryLowerBound();
        Assert.True(double.IsFinite(hm) && hm > 1e12 && double.IsFinite(ha) && ha > 1e12);
        Assert.Empty(cfg.Validate());                                // the tiny preset fits
    }

    // Before: 1e400 was read as infinity; writing the frozen config then failed with System.Text.Json's message about
    // named floating-point literals, after the empty --out folder had been created.
    [Theory]
    [InlineData("train.lr=1e400", "train.lr")]
    [InlineData("train.value_lr=-1e999", "train.value_lr")]
    public void A_number_out_of_range_is_one_line_naming_the_key_and_creates_no_folder(string set, string key)
    {
        string outDir = NewDir("lr-out");
        var (code, _, err) = Smf.Run("pretrain", "--preset", "tiny", "--set", $"data.corpus=[\"{Corpus()}\"]", "--set", set, "--out", outDir);
        AssertOneLineError(code, err, key, "out of range");
        Assert.False(Directory.Exists(outDir));
        // The same number in a --config file names the file and the key.
        string file = Path.Combine(fx.Root, "big-" + Guid.NewGuid().ToString("N")[..6] + ".json");
        File.WriteAllText(file, "{\"train\": {\"lr\": 1e400}}");
        (code, _, err) = Smf.Run("pretrain", "--preset", "tiny", "--config", file, "--out", outDir);
        AssertOneLineError(code, err, file, "train.lr");
        Assert.False(Directory.Exists(outDir));
    }

    // Before: train.steps=2147483647 started a run with an ETA of years; --steps 99999999999 printed the parser's
    // message with System.Nullable`1[System.Int32] and then the whole help text.
    [Fact]
    public void Step_counts_beyond_a_sane_bound_are_refused_in_one_line()
    {
        string outDir = NewDir("steps-out");
        var (code, _, err) = Smf.Run("pretrain", "--preset", "tiny", "--set", $"data.corpus=[\"{Corpus()}\"]", "--set", "train.steps=2147483647", "--out", outDir);
        AssertOneLineError(code, err, "train.steps", "10,000,000");
        Assert.False(Directory.Exists(outDir));
        (code, var output, err) = Smf.Run("finetune", "--model", fx.BaseDir, "--steps", "99999999999", "--out", outDir);
        AssertOneLineError(code, err, "99999999999", "--steps", "whole number", "smf finetune --help");
        Assert.DoesNotContain("System.", err);
        Assert.DoesNotContain("Options:", err + output);
        Assert.False(Directory.Exists(outDir));
        (code, output, err) = Smf.Run("generate", "--prompt", "Ada");                  // a missing required option
        AssertOneLineError(code, err, "--model", "smf generate --help");
        Assert.DoesNotContain("Options:", err + output);
    }

    // Before: "Requested value 'TPU' was not found." (the enum parser's message).
    [Theory]
    [InlineData("tpu")]
    [InlineData("cuda:x")]
    [InlineData("")]
    public void An_unknown_device_lists_the_known_ones(string device)
    {
        var (code, _, err) = Smf.Run("generate", "--model", fx.BaseDir, "--prompt", "Ada", "--max-tokens", "2", "--device", device);
        AssertOneLineError(code, err, "cpu, cuda, cuda:N", "mps");
    }

    // Before: a row that became NaN counted as changed with max |Δ| 0, as if it had barely moved.
    [Fact]
    public void Diff_reports_rows_that_became_non_finite()
    {
        string dir = BaseWithConfig("nan-rows", _ => { });
        string weights = Path.Combine(dir, Checkpoint.ModelFile);
        var (tensors, meta) = SafeTensors.Load(weights);
        tensors["memory_values.weight"][3, 1] = float.NaN;
        tensors["memory_values.weight"][5, 0] = float.PositiveInfinity;
        tensors["memory_values.weight"][7, 2] += 0.25f;
        SafeTensors.Save(weights, tensors.Select(kv => (kv.Key, kv.Value)).ToList(), meta);
        foreach (var t in tensors.Values) t.Dispose();

        var r = CheckpointDiff.Compare(fx.BaseDir, dir);
        var values = r.Tensors.Single(t => t.Name == "memory_values.weight");
        Assert.Equal(3, values.ChangedRows);
        Assert.Equal(2, values.NonFiniteRows);
        Assert.True(double.IsNaN(values.MaxAbsDelta));
        var json = JsonNode.Parse(r.ToJson())!["tensors"]!.AsArray().Single(t => t!["name"]!.GetValue<string>() == "memory_values.weight")!;
        Assert.Equal(2, json["non_finite_rows"]!.GetValue<long>());
        Assert.Null(json["max_abs_delta"]);
        var (code, output, _) = Smf.Run("diff", fx.BaseDir, dir);
        Assert.Equal(0, code);
        Assert.Contains("NaN", output);
        Assert.Contains("2 changed rows hold NaN or ±infinity", output);
        // A finite change alone keeps its finite max |Δ| and no non-finite rows.
        var finite = CheckpointDiff.Compare("a", new Dictionary<string, TorchSharp.torch.Tensor> { ["w"] = TorchSharp.torch.zeros(3, 2) },
            "b", new Dictionary<string, TorchSharp.torch.Tensor> { ["w"] = TorchSharp.torch.tensor(new float[] { 0, 0, 0.5f, 0, 0, 0 }).reshape(3, 2) }).Tensors.Single();
        Assert.Equal(0.5, finite.MaxAbsDelta, 6);
        Assert.Equal(0, finite.NonFiniteRows);
    }
}
