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

    /// <summary>
    /// lr 1e30 keeps everything finite: the first update makes value rows of norm ~1e28 and the loss then sits at
    /// ln(vocab), a uniform guess, which no NaN check sees. Before the row-norm rule the run finished with exit 0 and
    /// saved those rows; now it stops at step 1 with the diverged error and writes no checkpoint.
    /// </summary>
    [Fact]
    public void Finetune_with_lr_1e30_diverges_while_finite_and_stops_with_the_same_error_and_no_checkpoint()
    {
        string outDir = Path.Combine(fx.Root, "finite-ft");
        string[] args = ["finetune", "--model", fx.BaseDir, "--method", "sparse", "--lr", "1e30", "--data", fx.FactsPath, "--steps", "6",
            "--out", outDir, "--set", "data.paraphrases=4", "--set", "probes=[]", "--set", "checkpoint_every=1"];
        var (code, _, err) = Smf.Run(args);
        AssertDivergedError(code, err);
        Assert.Contains("training diverged at step 1: a memory value row has norm", err);
        Assert.Contains("lr 1E+30", err);
        Assert.False(File.Exists(Path.Combine(outDir, Checkpoint.ModelFile)), "no checkpoint of the diverged table");
        Assert.False(File.Exists(Path.Combine(outDir, RunFolder.SummaryFile)));
    }

    /// <summary>
    /// Full finetuning at lr 3 blows the loss up from ~5 to hundreds of nats at step 2 while it stays finite: the loss
    /// rule stops the run there, and the folder keeps the checkpoint of step 1, which loads (finite weights).
    /// </summary>
    [Fact]
    public void A_finite_loss_blow_up_stops_the_run_and_keeps_the_last_good_checkpoint()
    {
        string outDir = Path.Combine(fx.Root, "loss-ft");
        var (code, _, err) = Smf.Run("finetune", "--model", fx.BaseDir, "--method", "full", "--lr", "3", "--data", fx.FactsPath, "--steps", "6",
            "--out", outDir, "--set", "data.paraphrases=4", "--set", "probes=[]", "--set", "checkpoint_every=1");
        AssertDivergedError(code, err);
        Assert.Contains("training diverged at step 2: the loss is", err);
        Assert.Contains("more than 10× the first step's", err);
        var state = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "trainer_state.json")))!;
        Assert.Equal(1, state["step"]!.GetValue<int>());
        AssertCheckpointFinite(outDir);
        Assert.True(File.Exists(Path.Combine(outDir, Checkpoint.ModelFile)));
    }

    [Fact]
    public void The_cheap_row_check_agrees_with_the_float64_row_norms_on_random_rows()
    {
        // CheckRows skips the float64 norms when √Dv · max|x| is within the bound; it must decide exactly as the plain rule
        // (the largest float64 row norm against the bound) on rows just under, at and over the bound, and on spikes.
        var model = new SparseMemory.Model.LanguageModel(Fixtures.TinyConfig("unused").Model);
        var guard = new DivergenceGuard(model);
        var gen = new TorchSharp.torch.Generator(7);
        int decided = 0, over = 0;
        foreach (double scale in new[] { 1e-3, 1.0, 0.5, 0.9, 0.999, 1.0, 1.001, 1.1, 3.0 })
            for (int trial = 0; trial < 20; trial++)
            {
                using var raw = TorchSharp.torch.randn(new long[] { 50, 16 }, generator: gen);
                // Rows scaled so that the largest row norm is scale × the bound; every fifth trial one spiky row instead.
                TorchSharp.torch.Tensor rows;
                if (trial % 5 == 4)
                {
                    rows = TorchSharp.torch.zeros(50, 16);
                    rows[3, 5] = TorchSharp.torch.tensor((float)(guard.RowNormBound * scale));
                }
                else rows = raw * (guard.RowNormBound * scale / DivergenceGuard.MaxRowNorm(raw));
                using var _ = rows;
                string? expected = guard.CheckRowNorm(DivergenceGuard.MaxRowNorm(rows));
                Assert.Equal(expected is null, guard.CheckRows(rows) is null);
                decided++;
                if (expected is not null) over++;
            }
        Assert.True(over > 20 && over < decided - 20, $"both outcomes are exercised ({over} of {decided} over the bound)");
        using var nan = TorchSharp.torch.ones(4, 16);
        nan[2, 3] = TorchSharp.torch.tensor(float.NaN);
        Assert.True(double.IsNaN(DivergenceGuard.MaxAbs(nan)));
        nan[2, 3] = TorchSharp.torch.tensor(float.NegativeInfinity);
        Assert.True(double.IsPositiveInfinity(DivergenceGuard.MaxAbs(nan)));
        model.Dispose();
    }

    [Fact]
    public void The_loss_rule_needs_ten_times_the_first_loss_and_twice_a_uniform_guess()
    {
        var model = new SparseMemory.Model.LanguageModel(Fixtures.TinyConfig("unused").Model);
        var guard = new DivergenceGuard(model);
        double floor = 2 * Math.Log(model.Config.VocabSize);
        Assert.Equal(floor, guard.LossFloor, 12);
        Assert.Null(guard.CheckLoss(0.5));                       // the first loss is the reference
        Assert.Null(guard.CheckLoss(floor - 0.01));              // > 10 × 0.5 but below the floor
        Assert.NotNull(guard.CheckLoss(floor + 0.01));
        var high = new DivergenceGuard(model);
        Assert.Null(high.CheckLoss(4));
        Assert.Null(high.CheckLoss(39.9));                      // above the floor but not 10 × 4
        Assert.Contains("more than 10× the first step's 4", high.CheckLoss(40.1));
        Assert.True(guard.StartRowNorm is > 0 and < 10, $"start row norm {guard.StartRowNorm}");
        Assert.Null(guard.CheckRowNorm(guard.RowNormBound));
        Assert.NotNull(guard.CheckRowNorm(guard.RowNormBound * 1.01));
        guard.Enabled = false;                                   // smf bench: timing on random tokens, not training
        Assert.Null(guard.CheckRowNorm(guard.RowNormBound * 1.01));
        Assert.Null(guard.CheckLoss(floor + 100));
        model.Dispose();
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
