using SparseMemory.Data;
using SparseMemory.Checkpoints;
using SparseMemory.Finetuning;
using SparseMemory.Model;
using SparseMemory.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Tests.Finetuning;

public sealed class LoraTests
{
    sealed class RandomBatches(long vocab, int batch, int seqLen, ulong seed) : IBatchSource
    {
        public TrainingBatch Get(int step)
        {
            var g = new torch.Generator(seed + (ulong)step);
            var tokens = torch.randint(0, vocab, [batch, seqLen + 1], generator: g);
            return new TrainingBatch(tokens[.., ..^1].contiguous(), tokens[.., 1..].contiguous(), null);
        }
    }

    static LanguageModel TinyModel(long seed = 11)
    {
        torch.manual_seed(seed);
        return new LanguageModel(Fixtures.TinyConfig("x").Model);
    }

    static Tensor Tokens(LanguageModel model, ulong seed = 5) =>
        torch.randint(0, model.Config.VocabSize, [2, 12], generator: new torch.Generator(seed));

    static Tensor Logits(LanguageModel model, Tensor tokens)
    {
        model.eval();
        using var _ = torch.no_grad();
        return model.forward(tokens);
    }

    static void RandomizeB(LanguageModel model, ulong seed = 9)
    {
        var g = new torch.Generator(seed);
        using var _ = torch.no_grad();
        foreach (var (_, _, ad) in LoraMethod.Adapters(model))
            ad.B.copy_(torch.randn(ad.B.shape, ad.B.dtype, generator: g) * 0.2);
    }

    static double MaxDiff(Tensor a, Tensor b) => (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();

    static void Close(Tensor expected, Tensor actual, double atol, string what)
    {
        if (torch.allclose(actual, expected, rtol: 0, atol: atol)) return;
        var bad = (actual - expected).abs().gt(atol).nonzero();
        Assert.Fail($"{what}: max |diff| {MaxDiff(expected, actual):G4} > {atol}; first mismatches at {bad[..(int)Math.Min(5, bad.shape[0])].str()}");
    }

    static Dictionary<string, Tensor> Snapshot(IEnumerable<(string Name, Tensor T)> ps) =>
        ps.ToDictionary(p => p.Name, p => p.T.detach().clone());

    [Fact]
    public void Forward_equals_linear_with_W_plus_delta_in_float64()
    {
        torch.manual_seed(1);
        var proj = new Projection(12, 20, 0.1);
        proj.to(ScalarType.Float64);
        var ad = new LoraAdapter(12, 20, rank: 3, alpha: 6, dtype: ScalarType.Float64);
        proj.AttachAdapter(ad);
        using (torch.no_grad()) ad.B.copy_(torch.randn(20, 3, ScalarType.Float64));
        var x = torch.randn(4, 5, 12, ScalarType.Float64);

        var w = proj.Weight.detach() + ad.B.detach().matmul(ad.A.detach()) * (6.0 / 3);     // reference W + α/r · B A
        Close(F.linear(x, w), proj.forward(x).detach(), 1e-12, "LoRA forward vs linear(x, W + ΔW)");
        Close(w - proj.Weight.detach(), ad.DeltaWeight().detach(), 1e-12, "DeltaWeight");
        Assert.Equal(2.0, ad.Scale);
        Assert.Equal(new long[] { 3, 12 }, ad.A.shape);
        Assert.Equal(new long[] { 20, 3 }, ad.B.shape);
    }

    [Fact]
    public void A_is_kaiming_uniform_and_B_is_zero()
    {
        torch.manual_seed(2);
        var ad = new LoraAdapter(64, 16, rank: 8, alpha: 8);
        double bound = 1 / Math.Sqrt(64);                   // gain √(2/(1+5)) · √(3/fan_in) = 1/√fan_in
        Assert.True(ad.A.abs().max().item<float>() <= bound + 1e-7);
        Assert.True(ad.A.abs().max().item<float>() > bound * 0.8);
        Assert.Equal(0, ad.B.count_nonzero().item<long>());
    }

    [Fact]
    public void Fresh_adapters_do_not_change_the_output_and_freeze_the_base()
    {
        var model = TinyModel();
        var tokens = Tokens(model);
        var before = Logits(model, tokens);
        var method = new LoraMethod(rank: 2, alpha: 4, LoraTargets.All, lr: 1e-2, weightDecay: 0.1);
        method.Prepare(model);
        TensorAssert.Identical(before, Logits(model, tokens), "logits with fresh adapters");

        var keys = model.state_dict().Keys.ToList();
        Assert.Contains("layers.0.attention.wq.adapter.a", keys);
        Assert.Contains("layers.0.feed_forward.w2.adapter.b", keys);
        Assert.DoesNotContain(keys, k => k.Contains(".memory.") && k.Contains(".adapter."));
        Assert.Equal(4 * 2 + 3, LoraMethod.Adapters(model).Count());     // 2 blocks × wq/wk/wv/wo + w1/w2/w3 of the dense block

        var trainable = model.TrainableParameters.Select(p => p.Name).ToList();
        Assert.All(trainable, n => Assert.Contains(".adapter.", n));
        var group = Assert.Single(method.ParameterGroups(model));
        Assert.Equal(2 * 11, group.Parameters.Count);
        Assert.Equal(0.1, group.WeightDecay);
        Assert.Equal(LrSchedule.Constant, group.Schedule);
    }

    [Fact]
    public void Attention_only_targets_leave_the_feed_forward_alone()
    {
        var model = TinyModel();
        new LoraMethod(2, 2, LoraTargets.Attention, 1e-3, 0).Prepare(model);
        var names = LoraMethod.Adapters(model).Select(a => a.Name).ToList();
        Assert.Equal(8, names.Count);
        Assert.All(names, n => Assert.Contains(".attention.", n));
    }

    [Fact]
    public void Three_AdamW_steps_move_only_the_adapters()
    {
        var model = TinyModel();
        var baseParams = Snapshot(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)));
        var method = new LoraMethod(rank: 2, alpha: 4, LoraTargets.All, lr: 1e-2, weightDecay: 0.1);
        var loop = new LoopSettings(Steps: 3, WarmupSteps: 0, MinLrRatio: 0, GradClip: 1.0, LogEvery: 1, EvalEvery: 100, CheckpointEvery: 100);
        var trainer = new Trainer(model, method, new RandomBatches(model.Config.VocabSize, 2, 12, 7), loop, torch.CPU);
        var adapters0 = Snapshot(model.named_parameters().Where(p => p.name.Contains(".adapter.")).Select(p => (p.name, (Tensor)p.parameter)));
        Assert.Equal(22, adapters0.Count);

        string dir = Fixtures.TempDir("lora");
        trainer.Run(dir);

        var after = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        foreach (var (name, t) in baseParams) TensorAssert.Identical(t, after[name], name);
        foreach (var (name, t) in adapters0)
            Assert.False(TensorAssert.Same(t, after[name]), $"{name} did not move");
        Assert.All(after.Values, t => Assert.True(t.isfinite().all().item<bool>()));

        // The checkpoint's weights are merged under the plain key set; the adapters are kept for resuming.
        var (saved, _) = SafeTensors.Load(Path.Combine(dir, Checkpoint.ModelFile));
        Assert.DoesNotContain(saved.Keys, k => k.Contains(".adapter."));
        var (adapters, _) = SafeTensors.Load(Path.Combine(dir, Checkpoint.TrainableStateFile));
        Assert.Contains("layers.1.attention.wo.adapter.b", adapters.Keys);
        var x = torch.randint(0, model.Config.VocabSize, [1, 6], generator: new torch.Generator(3));
        var plain = TinyModel();
        Checkpoint.LoadWeights(plain, Path.Combine(dir, Checkpoint.ModelFile));
        Close(Logits(model, x), Logits(plain, x), 1e-5, "merged export vs adapted model");
    }

    [Fact]
    public void Merged_equals_unmerged_merging_twice_changes_nothing_and_unmerge_restores_the_base()
    {
        var model = TinyModel();
        var tokens = Tokens(model);
        new LoraMethod(2, 4, LoraTargets.All, 1e-3, 0).Prepare(model);
        RandomizeB(model);
        var baseWeights = Snapshot(LoraMethod.Adapters(model).Select(a => (a.Name, (Tensor)a.Projection.Weight)));
        var unmerged = Logits(model, tokens);
        Assert.True(MaxDiff(unmerged, Logits(TinyModel(), tokens)) > 1e-4, "adapters should change the output");

        LoraMethod.Merge(model);
        Assert.All(LoraMethod.Adapters(model), a => Assert.True(a.Adapter.Merged));
        var merged = Logits(model, tokens);
        Close(unmerged, merged, 1e-5, "merged vs unmerged logits");

        var once = Snapshot(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)));
        LoraMethod.Merge(model);
        var twice = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        foreach (var (name, t) in once) TensorAssert.Identical(t, twice[name], $"{name} after a second merge");
        TensorAssert.Identical(merged, Logits(model, tokens), "logits after a second merge");

        LoraMethod.Unmerge(model);
        foreach (var (name, proj, ad) in LoraMethod.Adapters(model))
        {
            Assert.False(ad.Merged);
            Close(baseWeights[name], proj.Weight.detach(), 1e-6, $"{name} after unmerge");
        }
        Close(unmerged, Logits(model, tokens), 1e-5, "logits after unmerge");
    }

    [Fact]
    public void MergeAndDetach_gives_a_plain_checkpoint_that_loads_into_a_fresh_model()
    {
        var model = TinyModel();
        var plainKeys = model.state_dict().Keys.ToList();
        var tokens = Tokens(model);
        new LoraMethod(2, 4, LoraTargets.All, 1e-3, 0).Prepare(model);
        RandomizeB(model);
        var withAdapters = Logits(model, tokens);

        Assert.Equal(11, LoraMethod.MergeAndDetach(model));
        Assert.Equal(plainKeys, model.state_dict().Keys.ToList());
        Assert.Empty(LoraMethod.Adapters(model));
        Assert.All(model.Projections, p => Assert.Null(p.Projection.Adapter));
        Close(withAdapters, Logits(model, tokens), 1e-5, "detached merged logits");

        string dir = Fixtures.TempDir("lora");
        Checkpoint.SaveWeights(dir, model);
        var fresh = TinyModel(99);
        Checkpoint.LoadWeights(fresh, Path.Combine(dir, Checkpoint.ModelFile));
        TensorAssert.Identical(Logits(model, tokens), Logits(fresh, tokens), "reloaded merged model");
    }

    [Fact]
    public void Merge_refuses_non_finite_weights()
    {
        torch.manual_seed(3);
        var proj = new Projection(4, 4, 0.1);
        var ad = new LoraAdapter(4, 4, 2, 2);
        proj.AttachAdapter(ad);
        using (torch.no_grad()) ad.B.fill_(float.NaN);
        var w = proj.Weight.detach().clone();
        Assert.Throws<InvalidOperationException>(() => ad.Merge(proj.Weight));
        Assert.False(ad.Merged);
        TensorAssert.Identical(w, proj.Weight, "weight after a refused merge");
    }

    [Fact]
    public void Invalid_settings_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new LoraMethod(0, 1, LoraTargets.All, 1e-3, 0));
        Assert.Throws<ArgumentException>(() => new LoraMethod(2, 0, LoraTargets.All, 1e-3, 0));
        Assert.Throws<ArgumentException>(() => new LoraMethod(2, 2, LoraTargets.None, 1e-3, 0));
        Assert.Throws<ArgumentException>(() => new LoraMethod(2, 2, LoraTargets.All, -1, 0));
    }
}
