using System.IO.Compression;
using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Runs;
using SparseMemory.Tests.Checkpoints;
using SparseMemory.Tests.Finetuning;
using SparseMemory.Training;
using TorchSharp;
using Xunit;

namespace SparseMemory.Tests.Reliability;

/// <summary>
/// Strict readers and option checks: each bad input is one line naming the file or option and the fix, and nothing is
/// created. Each test failed before its fix (noted per test).
/// </summary>
public sealed class StrictInputTests(FinetuneFixture fx) : IClassFixture<FinetuneFixture>
{
    static void AssertOneLineError(int code, string err, params string[] mentions)
    {
        Assert.True(code == 2, $"exit code {code}: {err}");
        Assert.Single(err.Trim().Split('\n'), l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", err);
        foreach (string m in mentions) Assert.Contains(m, err);
    }

    /// <summary>A copy of the base checkpoint's config, tokenizer and weights in a new folder.</summary>
    string CopyBase(string name)
    {
        string dir = Path.Combine(fx.Root, name + "-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        foreach (string f in new[] { Checkpoint.ConfigFile, Checkpoint.TokenizerFile, Checkpoint.ModelFile })
            File.Copy(Path.Combine(fx.BaseDir, f), Path.Combine(dir, f));
        return dir;
    }

    // Before: copy_ converted every dtype silently.
    [Theory]
    [InlineData(torch.ScalarType.Float64, "F64")]
    [InlineData(torch.ScalarType.Int64, "I64")]
    [InlineData(torch.ScalarType.Bool, "BOOL")]
    [InlineData(torch.ScalarType.Float16, "F16")]
    public void Weights_stored_with_another_dtype_are_an_error_naming_file_tensor_and_both_dtypes(torch.ScalarType stored, string name)
    {
        string dir = CopyBase("dtype");
        var (tensors, meta) = SafeTensors.Load(Path.Combine(dir, Checkpoint.ModelFile));
        var converted = tensors.Select(kv => (kv.Key, kv.Key == "memory_values.weight" ? kv.Value.to_type(stored) : kv.Value)).ToList();
        SafeTensors.Save(Path.Combine(dir, Checkpoint.ModelFile), converted, meta);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(dir));
        Assert.Contains(Path.Combine(dir, Checkpoint.ModelFile), e.Message);
        Assert.Contains("memory_values.weight", e.Message);
        Assert.Contains($"stored as {name} but the model expects F32", e.Message);
    }

    // Before: the tokenizer was not compared with the model (ids past vocab_size failed later in libtorch).
    [Fact]
    public void A_tokenizer_with_more_ids_than_the_model_is_an_error_naming_both_files()
    {
        string dir = CopyBase("vocab");
        string cfgPath = Path.Combine(dir, Checkpoint.ConfigFile);
        var cfg = JsonNode.Parse(File.ReadAllText(cfgPath))!;
        int vocab = ByteLevelBpeTokenizer.Load(Path.Combine(dir, Checkpoint.TokenizerFile)).VocabSize;
        cfg["model"]!["vocab_size"] = vocab - 1;
        File.WriteAllText(cfgPath, cfg.ToJsonString());
        var (code, _, err) = Smf.Run("generate", "--model", dir, "--prompt", "Ada", "--max-tokens", "2");
        AssertOneLineError(code, err, Path.Combine(dir, Checkpoint.TokenizerFile), Path.Combine(dir, Checkpoint.ConfigFile), "vocab_size");
    }

    // Passed before too: ConfigLoader.ReadFile disallows unknown members (kept as a regression test).
    [Fact]
    public void An_unknown_top_level_key_in_a_run_folders_config_is_an_error()
    {
        string root = Fixtures.TempDir("strict");
        var cfg = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 2);
        string run = Path.Combine(root, "run");
        Directory.CreateDirectory(run);
        var tree = JsonNode.Parse(SparseMemory.Config.ConfigLoader.ToJson(cfg))!;
        tree["colour"] = "blue";
        File.WriteAllText(Path.Combine(run, Checkpoint.ConfigFile), tree.ToJsonString());
        var e = Assert.Throws<SparseMemory.Config.ConfigException>(() => Pretraining.Run(cfg, run, NullObserver.Instance));
        Assert.Contains("colour", e.Message);
    }

    // Before: an empty summary.json was a bare JsonException ("The input does not contain any JSON tokens") with no file name.
    [Theory]
    [InlineData("")]
    [InlineData("{\"steps\": ")]
    [InlineData("[1, 2]")]
    public void An_empty_or_invalid_summary_is_one_line_naming_the_file_and_the_fix(string content)
    {
        string root = Fixtures.TempDir("strict");
        string cfgFile = Path.Combine(root, "cfg.json");
        RunFolder.SaveConfig(Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 2), cfgFile);
        string run = Path.Combine(root, "run");
        Assert.Equal(0, Smf.Run("pretrain", "--config", cfgFile, "--out", run).Code);
        File.WriteAllText(Path.Combine(run, RunFolder.SummaryFile), content);
        var (code, _, err) = Smf.Run("pretrain", "--config", cfgFile, "--out", run);
        AssertOneLineError(code, err, Path.Combine(run, RunFolder.SummaryFile), "delete it");
    }

    // Before: GZipStream's own message ("The archive entry was compressed using an unsupported compression method.") without the file.
    [Fact]
    public void A_corrupt_gz_input_names_the_file()
    {
        string root = Fixtures.TempDir("strict");
        string facts = Path.Combine(root, "facts.jsonl.gz");
        var good = new MemoryStream();
        FactsFile.WriteTo(good, FactsFile.Read(fx.FactsPath), gzip: true);
        var bytes = good.ToArray();
        for (int i = 12; i < bytes.Length - 8; i += 3) bytes[i] ^= 0x5a;           // keep the gzip header, damage the deflate data
        File.WriteAllBytes(facts, bytes);
        var e = Assert.Throws<InvalidDataException>(() => FactsFile.Read(facts));
        Assert.Contains(facts, e.Message);
        string corpus = Path.Combine(root, "corpus.txt.gz");
        File.WriteAllBytes(corpus, bytes);
        var c = Assert.Throws<InvalidDataException>(() => TextCorpus.ReadDocuments(corpus).ToList());
        Assert.Contains(corpus, c.Message);
    }

    // Passed before for a plain truncation (TorchStepOptimizer.Load already named the file for EndOfStreamException);
    // other damage (overflowing lengths, index errors) escaped unnamed until TrainingCheckpoint.Resume wrapped every
    // read error — ReaderFuzzTests.Resume_on_damaged_optimizer_state covers those.
    [Fact]
    public void A_truncated_optimizer_state_names_the_file()
    {
        string root = Fixtures.TempDir("strict");
        var cfg = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 8);
        string run = Path.Combine(root, "run");
        using (Crash.At("staged:model.safetensors", occurrence: 2)) Assert.Throws<Crash.Simulated>(() => Pretraining.Run(cfg, run, NullObserver.Instance));
        string opt = Path.Combine(run, Checkpoint.OptimizerFile);
        File.WriteAllBytes(opt, File.ReadAllBytes(opt)[..(int)(new FileInfo(opt).Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => Pretraining.Run(cfg, run, NullObserver.Instance));
        Assert.Contains(opt, e.Message);
    }

    // Before: NaN, infinity and a negative temperature were accepted (NaN passed the top-p check; 0 and 1.5 were already
    // refused), --max-tokens had no cap, an empty prompt reached the model, --lr 0 passed the flag's own check that the
    // finetune config then refused (the flags now go through the config's rules only; --steps 0 is the config's "one pass"),
    // a --top-t above the slot count was clamped silently, and --set model.dim said 'unknown key "model" (did you mean "model"?)'.
    [Theory]
    [InlineData("generate", "--temperature", "NaN", "--temperature")]
    [InlineData("generate", "--temperature", "-1", "--temperature")]
    [InlineData("generate", "--top-p", "NaN", "--top-p")]
    [InlineData("generate", "--top-p", "0", "--top-p")]
    [InlineData("generate", "--top-p", "1.5", "--top-p")]
    [InlineData("generate", "--max-tokens", "5000", "--max-tokens")]
    [InlineData("generate", "--prompt", "", "--prompt")]
    [InlineData("finetune", "--lr", "NaN", "--lr")]
    [InlineData("finetune", "--lr", "Infinity", "--lr")]
    [InlineData("finetune", "--steps", "-1", "--steps")]
    [InlineData("finetune", "--lr", "0", "--lr")]
    [InlineData("finetune", "--top-t", "100000", "64 memory slots")]
    [InlineData("finetune", "--set", "model.dim=32", "comes from the base checkpoint")]
    public void Bad_option_values_are_one_line_errors_naming_the_option(string verb, string option, string value, string mentioned)
    {
        string outDir = Path.Combine(fx.Root, "opt-" + Guid.NewGuid().ToString("N")[..6]);
        var defaults = verb == "generate"
            ? new List<string> { "--prompt", "Ada", "--max-tokens", "2" }
            : ["--data", fx.FactsPath, "--steps", "2", "--out", outDir, "--set", "probes=[]"];
        int at = defaults.IndexOf(option);
        if (at >= 0 && option != "--set") defaults.RemoveRange(at, 2);
        string[] args = [verb, "--model", fx.BaseDir, .. defaults, option, value];
        var (code, _, err) = Smf.Run(args);
        AssertOneLineError(code, err, mentioned);
        Assert.False(Directory.Exists(outDir));
    }

    // Before: 'unknown key at data.corpus' (the base model's config read as a finetune config).
    [Fact]
    public void Finetune_out_pointing_at_a_base_model_or_another_kind_of_run_says_so()
    {
        string copy = CopyBase("pre-run");
        var (code, _, err) = Smf.Run("finetune", "--model", fx.BaseDir, "--data", fx.FactsPath, "--steps", "1", "--out", fx.BaseDir, "--set", "probes=[]");
        AssertOneLineError(code, err, "base model's folder");
        (code, _, err) = Smf.Run("finetune", "--model", fx.BaseDir, "--data", fx.FactsPath, "--steps", "1", "--out", copy, "--set", "probes=[]");
        AssertOneLineError(code, err, "holds a pretraining run", "new --out");
    }

    // Before: --out was created (with config.json) and then loading the base weights failed.
    [Fact]
    public void Finetune_with_a_corrupt_base_model_fails_before_creating_out()
    {
        string dir = CopyBase("corrupt-base");
        string weights = Path.Combine(dir, Checkpoint.ModelFile);
        var (tensors, meta) = SafeTensors.Load(weights);
        tensors["memory_values.weight"][0, 0] = float.PositiveInfinity;
        SafeTensors.Save(weights, tensors.Select(kv => (kv.Key, kv.Value)).ToList(), meta);
        string outDir = Path.Combine(fx.Root, "from-corrupt-" + Guid.NewGuid().ToString("N")[..6]);
        var (code, _, err) = Smf.Run("finetune", "--model", dir, "--method", "full", "--data", fx.FactsPath, "--steps", "1", "--out", outDir, "--set", "probes=[]");
        AssertOneLineError(code, err, weights);
        Assert.False(Directory.Exists(outDir));
    }
}
