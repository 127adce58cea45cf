using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Memory;
using SparseMemory.Model;
using SparseMemory.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Training;

/// <summary>
/// Lazy (row-sparse) AdamW of the memory value table in pretraining and full finetuning
/// (docs/method.md#lazy-value-updates): the fast path against a plain float64 loop over rows, untouched rows bit for bit,
/// the gradients against dense autograd, and the first step against dense AdamW.
/// </summary>
public sealed class LazyValueUpdateTests
{
    const double B1 = 0.9, B2 = 0.95, Eps = 1e-8;

    /// <summary>A synthetic captured access: random ids, weights, padding, and ∂L/∂y (zero at padding, as in a real step).</summary>
    static MemoryAccess RandomAccess(Random rng, int layer, int b, int t, int hk, int slots, int dv)
    {
        var ids = torch.tensor(Enumerable.Range(0, b * t * hk).Select(_ => (long)rng.Next(slots)).ToArray()).view(b, t, hk);
        var w = torch.tensor(Enumerable.Range(0, b * t * hk).Select(_ => (float)rng.NextDouble()).ToArray()).view(b, t, hk);
        var valid = torch.tensor(Enumerable.Range(0, b * t).Select(i => i % t < t - rng.Next(3)).ToArray()).view(b, t);
        var gy = torch.tensor(Enumerable.Range(0, b * t * dv).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()).view(b * t, dv);
        gy.mul_(valid.reshape(-1, 1).to(ScalarType.Float32));
        var read = torch.zeros(b * t, dv).requires_grad_(true);
        read.grad = gy;
        return new MemoryAccess(layer, ids, w, valid, read);
    }

    static float[] Row(Tensor t, long r) => t[r].data<float>().ToArray();

    [Theory]
    [InlineData(0.0, 11)]     // Dv = 11: the SIMD loop and its scalar tail
    [InlineData(0.1, 16)]
    public void Lazy_adamw_equals_a_float64_row_loop_and_untouched_rows_stay_bit_identical(double weightDecay, int dv)
    {
        using var scope = torch.NewDisposeScope();
        const int S = 60, B = 3, T = 5, HK = 4, Steps = 5;
        const double Lr = 0.01;
        var rng = new Random(7);
        var table = new Parameter(torch.randn(S, dv, generator: new torch.Generator(5)), requires_grad: false);
        var groups = new List<ParamGroupSpec> { new("values", [table], Lr, weightDecay, LrSchedule.Constant, ClipSeparately: true) };
        using var opt = new LazyValueOptimizer(groups, "values", new LoopSettings(Steps, 0, 1, 0, 1, 1, 1, B1, B2, Eps));
        using var grads = new ValueRowGradients();

        // The reference: float64, one row at a time, written from the definition.
        var w = new double[S, dv];
        var m = new double[S, dv];
        var v = new double[S, dv];
        var n = new long[S];
        var init = table.detach().to(ScalarType.Float64);
        for (int r = 0; r < S; r++) for (int j = 0; j < dv; j++) w[r, j] = init[r, j].item<double>();

        for (int step = 0; step < Steps; step++)
        {
            var log = new MemoryAccessLog();
            log.Record(RandomAccess(rng, 1, B, T, HK, S, dv));
            log.Record(RandomAccess(rng, 3, B, T, HK, S, dv));

            // Reference touched rows and gradients.
            var touched = new SortedSet<long>();
            var g = new double[S, dv];
            foreach (var a in log.Accesses)
            {
                var ids = a.Indices.reshape(-1).data<long>().ToArray();
                var ws = a.Weights.reshape(-1).data<float>().ToArray();
                var valid = a.ValidMask!.reshape(-1).data<bool>().ToArray();
                var gy = a.Read!.grad!.data<float>().ToArray();
                for (int i = 0; i < ids.Length; i++)
                {
                    int token = i / HK;
                    if (valid[token]) touched.Add(ids[i]);
                    for (int j = 0; j < dv; j++) g[ids[i], j] += (double)ws[i] * gy[token * dv + j];
                }
            }
            foreach (long r in touched)
            {
                n[r]++;
                double bc1 = 1 - Math.Pow(B1, n[r]), bc2 = 1 - Math.Pow(B2, n[r]);
                for (int j = 0; j < dv; j++)
                {
                    w[r, j] *= 1 - Lr * weightDecay;
                    m[r, j] = B1 * m[r, j] + (1 - B1) * g[r, j];
                    v[r, j] = B2 * v[r, j] + (1 - B2) * g[r, j] * g[r, j];
                    w[r, j] -= Lr / bc1 * m[r, j] / (Math.Sqrt(v[r, j]) / Math.Sqrt(bc2) + Eps);
                }
            }

            // The fast path.
            var before = table.detach().clone();
            var stateBefore = StateOf(opt);
            long[] rows = grads.TouchedRows(log, S);
            Assert.Equal(touched.ToArray(), rows);
            Assert.True(touched.Count < S, "the test needs untouched rows");
            opt.SetValueRows(rows, grads.Compute(log, rows, table));
            opt.SetLearningRate(0, Lr);
            opt.Step();
            opt.ZeroGrad();

            var state = StateOf(opt);
            for (long r = 0; r < S; r++)
            {
                if (!touched.Contains(r))
                {
                    TensorAssert.Identical(before[r], table.detach()[r], $"step {step}: untouched row {r}");
                    foreach (string k in new[] { "values.exp_avg", "values.exp_avg_sq" })
                        if (stateBefore.TryGetValue(k, out var old)) TensorAssert.Identical(old[r], state[k][r], $"step {step}: {k} of untouched row {r}");
                    if (n[r] == 0)
                    {
                        Assert.All(Row(state["values.exp_avg"], r), x => Assert.Equal(0f, x));
                        Assert.All(Row(state["values.exp_avg_sq"], r), x => Assert.Equal(0f, x));
                    }
                }
                Assert.Equal(n[r], state["values.row_steps"][r].item<long>());
                var fw = Row(table.detach(), r);
                var fm = Row(state["values.exp_avg"], r);
                for (int j = 0; j < dv; j++)
                {
                    Assert.True(Math.Abs(fw[j] - w[r, j]) <= 1e-5 * (1 + Math.Abs(w[r, j])), $"step {step} row {r} col {j}: w {fw[j]:G9} vs {w[r, j]:G9}");
                    Assert.True(Math.Abs(fm[j] - m[r, j]) <= 1e-5 * (1 + Math.Abs(m[r, j])), $"step {step} row {r} col {j}: m {fm[j]:G9} vs {m[r, j]:G9}");
                }
            }
        }
    }

    /// <summary>The optimizer's saved state, read back (the same bytes <c>optimizer.bin</c> holds).</summary>
    static Dictionary<string, Tensor> StateOf(IStepOptimizer opt)
    {
        using var ms = new MemoryStream();
        opt.Save(ms);
        ms.Position = 0;
        return SparseMemory.Checkpoints.SafeTensors.Load(ms, "state").Tensors;
    }

    static LanguageModel TinyModel(int seed, int numKeys = 8)
    {
        torch.manual_seed(seed);
        var cfg = Fixtures.TinyConfig("unused").Model;
        return new LanguageModel(cfg with { Memory = cfg.Memory! with { NumKeys = numKeys } });
    }

    sealed class RandomTokens(int seed, int batch = 4, int length = 16) : IBatchSource
    {
        public TrainingBatch Get(int step)
        {
            var x = torch.randint(0, 300, [batch, length + 1], generator: new torch.Generator((ulong)(seed * 1000 + step)));
            return new TrainingBatch(x[.., ..length], x[.., 1..], null);
        }
    }

    [Fact]
    public void Lazy_capture_gives_dense_autograd_gradients_in_float64_without_a_table_gradient()
    {
        var batch = new RandomTokens(1).Get(0);
        using var dense = TinyModel(3);
        dense.to(ScalarType.Float64);
        foreach (var p in dense.parameters()) p.requires_grad = true;
        LanguageModel.Loss(dense.Forward(batch.Inputs, null, null), batch.Targets).backward();
        var denseGrads = dense.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());

        using var lazy = TinyModel(3);
        lazy.to(ScalarType.Float64);
        using var method = new FullTraining(1e-3, 0, 1e-3, 0, LrSchedule.Constant);
        method.Prepare(lazy);
        Assert.True(method.LazyValues && method.NeedsAccessLog);
        var groups = method.ParameterGroups(lazy);
        var loop = new LoopSettings(1, 0, 1, 0, 1, 1, 1);
        using var opt = method.CreateOptimizer(groups, loop)!;
        var log = new MemoryAccessLog();
        LanguageModel.Loss(lazy.Forward(batch.Inputs, log, null), batch.Targets).backward();
        method.AfterBackward(new StepContext(0, lazy, batch, log, new Dictionary<string, double>()));

        Assert.Null(lazy.MemoryValues!.grad);                                  // no dense [S, Dv] gradient was built
        foreach (var (name, p) in lazy.named_parameters().Where(p => p.name != "memory_values.weight"))
        {
            double diff = (p.grad! - denseGrads[name]).abs().max().item<double>();
            Assert.True(diff < 1e-12, $"{name}: max |diff| {diff:G3} against dense autograd");
        }
        Assert.True(denseGrads["layers.1.memory.keys"].abs().sum().item<double>() > 0, "keys must still receive gradient");
        int valueGroup = groups.ToList().FindIndex(g => g.Name == FullTraining.ValuesGroup);
        var rowGrads = opt.HeldGradients(valueGroup).Single();
        var rows = method.LastTouchedRows;
        var denseTable = denseGrads["memory_values.weight"];
        var expectedRows = denseTable.abs().sum(1).gt(0).nonzero().squeeze(1).data<long>().ToArray();
        Assert.Equal(expectedRows, rows);                                      // touched = rows with a gradient (no padding here)
        double maxDiff = (rowGrads - denseTable.index_select(0, torch.tensor(rows))).abs().max().item<double>();
        Assert.True(maxDiff < 1e-12, $"row gradients: max |diff| {maxDiff:G3}");
    }

    [Fact]
    public void Only_rows_read_in_a_step_move_through_the_real_trainer_and_the_first_step_equals_dense_adamw()
    {
        string root = Fixtures.TempDir("lazy-steps");
        // Both sides through the same read backward (libtorch's): the managed one sums the read-weight gradient in
        // another order, and AdamW's first step (≈ lr · sign g) turns float32 reassociation into visible differences.
        FirstStepEqualsDense(root);
    }

    static void FirstStepEqualsDense(string root)
    {
        var loop = new LoopSettings(1, 0, 1, 1.0, 1, 100, 100);        // clip at 1 as in pretraining
        using var lazy = TinyModel(4, numKeys: 32);                          // 1,024 slots, 128 reads a step: most rows unread
        using var dense = TinyModel(4, numKeys: 32);
        lazy.FastPaths = dense.FastPaths = SparseMemory.Config.FastPaths.On with { ManagedValueBackward = false };
        var start = lazy.MemoryValues!.detach().clone();
        using var lazyMethod = new FullTraining(3e-3, 0.1, 4e-3, 0, LrSchedule.Constant);
        using var denseMethod = new FullTraining(3e-3, 0.1, 4e-3, 0, LrSchedule.Constant, lazyValues: false);
        new Trainer(lazy, lazyMethod, new RandomTokens(2, 2, 8), loop, torch.CPU).Run(Path.Combine(root, "lazy1"));
        new Trainer(dense, denseMethod, new RandomTokens(2, 2, 8), loop, torch.CPU).Run(Path.Combine(root, "dense1"));
        var first = lazyMethod.LastTouchedRows;
        Assert.InRange(first.Length, 1, (int)start.shape[0] - 1);
        var afterFirst = lazy.MemoryValues!.detach().clone();
        var moved = afterFirst.sub(start).abs().sum(1).gt(0).nonzero().squeeze(1).data<long>().ToArray();
        Assert.Equal(first, moved);                                            // exactly the rows read moved
        // Step 1 of dense AdamW moves no unread row either (zero gradient, zero moments): both agree everywhere.
        foreach (var ((name, a), (_, b)) in lazy.named_parameters().Zip(dense.named_parameters()))
        {
            double diff = (a - b).abs().max().item<float>();
            Assert.True(diff < 2e-6, $"{name}: lazy vs dense AdamW after step 1, max |diff| {diff:G3}");
        }

        // Step 2 on another batch: a row read at step 1 but not at step 2 keeps its value bit for bit (no momentum leak).
        // A second trainer on the same method (its optimizer starts afresh; the invariant does not depend on the state).
        new Trainer(lazy, lazyMethod, new Shifted(new RandomTokens(2, 2, 8), 7), loop, torch.CPU).Run(Path.Combine(root, "lazy2"));
        var second = lazyMethod.LastTouchedRows.ToHashSet();
        var onlyFirst = first.Where(r => !second.Contains(r)).ToArray();
        Assert.NotEmpty(onlyFirst);
        var afterSecond = lazy.MemoryValues!.detach();
        foreach (long r in onlyFirst) TensorAssert.Identical(afterFirst[r], afterSecond[r], $"row {r} read at step 1 only");
        var moved2 = afterSecond.sub(afterFirst).abs().sum(1).gt(0).nonzero().squeeze(1).data<long>().ToArray();
        Assert.Equal(second.Order(), moved2);
    }

    sealed class Shifted(IBatchSource inner, int by) : IBatchSource
    {
        public TrainingBatch Get(int step) => inner.Get(step + by);
    }

    [Fact]
    public void A_dense_optimizer_state_is_refused_with_the_switch_to_resume_it()
    {
        using var model = TinyModel(5);
        using var denseMethod = new FullTraining(1e-3, 0, 1e-3, 0, LrSchedule.Constant, lazyValues: false);
        denseMethod.Prepare(model);
        var loop = new LoopSettings(1, 0, 1, 0, 1, 1, 1);
        using var denseOpt = new TorchStepOptimizer(denseMethod.ParameterGroups(model), loop);
        using var bytes = new MemoryStream();
        denseOpt.Save(bytes);
        using var lazyMethod = new FullTraining(1e-3, 0, 1e-3, 0, LrSchedule.Constant);
        lazyMethod.Prepare(model);
        using var lazyOpt = lazyMethod.CreateOptimizer(lazyMethod.ParameterGroups(model), loop)!;
        bytes.Position = 0;
        var e = Assert.Throws<InvalidDataException>(() => lazyOpt.Load(bytes, "run/optimizer.bin"));
        Assert.Contains("run/optimizer.bin", e.Message);
        Assert.Contains("\"value_update\": \"dense\"", e.Message);
    }

    [Fact]
    public void Value_update_is_validated_in_both_configs()
    {
        var pre = ConfigLoader.Load<PretrainConfig>("tiny", sets: ["train.value_update=sparse"]).Validate();
        Assert.Contains(pre, e => e.Contains("train.value_update must be \"lazy\" or \"dense\", got \"sparse\""));
        Assert.Equal(ValueUpdates.Lazy, new PretrainConfig().Train.ValueUpdate);
        var fin = ConfigLoader.Load<FinetuneConfig>(sets: ["base_model=x", "full_value_update=Dense"]).Validate();
        Assert.Contains(fin, e => e.Contains("full_value_update must be \"lazy\" or \"dense\""));
        Assert.Empty(ConfigLoader.Load<FinetuneConfig>(sets: ["base_model=x", "full_value_update=dense"]).Validate());
    }
}
