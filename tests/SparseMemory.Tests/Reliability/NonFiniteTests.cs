using SparseMemory.Checkpoints;
using SparseMemory.Runs;
using SparseMemory.Tests.Finetuning;
using SparseMemory.Training;
using Xunit;

namespace SparseMemory.Tests.Reliability;

/// <summary>
/// A diverging run stops at once with <see cref="NonFiniteException"/> (exit 2, one line naming the step, the value
/// and the lr), saves nothing of the bad step, and a rerun gives the same error rather than a broken folder. Before the
/// fix there was no such check: the runs trained on NaN to the end, saved NaN checkpoints and then failed serialising
/// the NaN losses into summary.json (System.Text.Json refuses NaN), so "training diverged" never appeared.
/// </summary>
public sealed class NonFiniteTests(FinetuneFixture fx) : IClassFixture<FinetuneFixture>
{
    static void AssertDivergedError(int code, string err)
    {
        Assert.True(code == 2, $"exit code {code}: {err}");
        var lines = err.Trim().Split('\n');
        Assert.Single(lines, l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.Contains("training diverged at step", err);
        Assert.Contains("too high for this model; try 10× lower", err);
        Assert.DoesNotContain("   at ", err);
    }

    /// <summary>Every checkpoint left in <paramref name="dir"/> loads with the strict (finite) loader.</summary>
    static void AssertCheckpointFinite(string dir)
    {
        if (!File.Exists(Path.Combine(dir, Checkpoint.ModelFile))) return;
        Checkpoint.Load(dir).Model.Dispose();
    }

    [Fact]
    public void Finetune_with_lr_1e308_stops_with_a_clear_error_and_a_rerun_gives_the_same_error()
    {
        string outDir = Path.Combine(fx.Root, "nan-ft");
        string[] args = ["finetune", "--model", fx.BaseDir, "--lr", "1e308", "--data", fx.FactsPath, "--steps", "6", "--out", outDir,
            "--set", "data.paraphrases=4", "--set", "probes=[]", "--set", "checkpoint_every=1"];
        var (code, _, err) = Smf.Run(args);
        AssertDivergedError(code, err);
        Assert.Contains("lr 1E+308", err);
        Assert.False(File.Exists(Path.Combine(outDir, RunFolder.SummaryFile)));
        AssertCheckpointFinite(outDir);
        var (code2, _, err2) = Smf.Run(args);
        AssertDivergedError(code2, err2);
        Assert.Equal(err.Trim().Split('\n')[^1], err2.Trim().Split('\n')[^1]);
        AssertCheckpointFinite(outDir);
    }

    [Fact]
    public void Pretrain_with_lr_1e10_stops_with_a_clear_error_and_a_rerun_gives_the_same_error()
    {
        string root = Fixtures.TempDir("nan-pre");
        string cfgFile = Path.Combine(root, "cfg.json");
        RunFolder.SaveConfig(Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 8), cfgFile);
        string run = Path.Combine(root, "run");
        string[] args = ["pretrain", "--config", cfgFile, "--set", "train.lr=1e10", "--set", "train.checkpoint_every=1", "--out", run];
        var (code, _, err) = Smf.Run(args);
        AssertDivergedError(code, err);
        Assert.True(err.Contains("lr 1E+10"), err);
        Assert.False(File.Exists(Path.Combine(run, RunFolder.SummaryFile)));
        AssertCheckpointFinite(run);
        var (code2, _, err2) = Smf.Run(args);
        AssertDivergedError(code2, err2);
        Assert.Equal(err.Trim().Split('\n')[^1], err2.Trim().Split('\n')[^1]);
    }

    [Fact]
    public void A_checkpoint_with_nonfinite_weights_is_refused_naming_file_and_tensor_unless_allowed()
    {
        string dir = Path.Combine(fx.Root, "nan-weights");
        Directory.CreateDirectory(dir);
        foreach (string f in new[] { Checkpoint.ConfigFile, Checkpoint.TokenizerFile }) File.Copy(Path.Combine(fx.BaseDir, f), Path.Combine(dir, f));
        var loaded = Checkpoint.Load(fx.BaseDir);
        using (TorchSharp.torch.no_grad()) loaded.Model.MemoryValues![3, 1] = float.NaN;
        Checkpoint.SaveWeights(dir, loaded.Model);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(dir));
        Assert.Contains(Path.Combine(dir, Checkpoint.ModelFile), e.Message);
        Assert.Contains("memory_values.weight", e.Message);
        Assert.Contains("non-finite", e.Message);
        Checkpoint.Load(dir, allowNonFinite: true).Model.Dispose();

        var (code, _, err) = Smf.Run("generate", "--model", dir, "--prompt", "Ada", "--max-tokens", "2");
        Assert.Equal(2, code);
        Assert.Contains("--allow-nonfinite", err);
        Assert.Equal(0, Smf.Run("generate", "--model", dir, "--prompt", "Ada", "--max-tokens", "2", "--allow-nonfinite").Code);
        Assert.Equal(2, Smf.Run("eval", "--model", dir, "--probes", "target-f1", "--limit", "1").Code);
        var (ecode, _, eerr) = Smf.Run("eval", "--model", dir, "--probes", "target-f1", "--limit", "1", "--allow-nonfinite");
        Assert.True(ecode == 0, eerr);
    }
}
