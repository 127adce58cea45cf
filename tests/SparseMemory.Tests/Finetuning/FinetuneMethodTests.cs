using SparseMemory.Runs;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Finetuning;
using SparseMemory.Memory;
using SparseMemory.Model;
using SparseMemory.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Finetuning;

/// <summary>The method × invariant grid on a tiny pretrained model, through the real trainer.</summary>
public sealed class FinetuneMethodTests(FinetuneFixture fx) : IClassFixture<FinetuneFixture>
{
    FinetuneConfig Config(string method, params string[] sets) =>
        ConfigLoader.Load<FinetuneConfig>(sets: new[] { $"base_model={fx.BaseDir}", $"method={method}", $"data.facts={fx.FactsPath}", "data.paraphrases=4", "checkpoint_every=2", "probes=[]" }.Concat(sets));

    /// <summary>Every registered finetuning method: the grid below is a Theory over the registry, with no switch on the method.</summary>
    public static TheoryData<string> Methods => new(FinetuneMethods.Registry.Names);

    /// <summary>A learning rate at which the method visibly moves its weights in a few steps on the tiny model.</summary>
    static string Lr(string method) => FinetuneMethods.Registry.Get(method, "method").DefaultLr >= 1 ? "lr=5" : "lr=0.01";

    static Dictionary<string, Tensor> Weights(string dir) => SafeTensors.Load(Path.Combine(dir, Checkpoint.ModelFile)).Tensors;

    /// <summary>Runs a method step by step with the real Trainer, recording the selected rows of each step.</summary>
    List<long[]> RunSparse(FinetuneConfig cfg, string outDir, int steps)
    {
        var loaded = Checkpoint.Load(fx.BaseDir);
        var facts = FactsFile.Read(fx.FactsPath);
        var data = FactBatches.Create(facts, loaded.Tokenizer, cfg.Data.Paraphrases, 1, cfg.Seed, false, loaded.Model.Config.MaxSeqLen);
        var method = (SparseMemoryMethod)FinetuneMethods.Create(cfg, fx.BaseDir);
        var selections = new List<long[]>();
        var observer = new SelectionRecorder(method, selections);
        var trainer = new Trainer(loaded.Model, method, data, new LoopSettings(steps, 0, 1, 0, 1, steps, steps), torch.CPU, observer);
        trainer.Run(outDir);
        method.Dispose();
        return selections;
    }

    sealed class SelectionRecorder(SparseMemoryMethod m, List<long[]> into) : ITrainingObserver
    {
        public void OnStep(StepReport r) => into.Add(m.LastSelection.ToArray());
        public void OnEval(int step, IReadOnlyDictionary<string, double> metrics) { }
        public void OnMessage(string message) { }
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam_w")]
    public void Sparse_changes_exactly_the_union_of_selected_rows_and_nothing_else(string optimizer)
    {
        var cfg = Config("sparse", "sparse.top_t=6", "lr=5", $"sparse.optimizer={optimizer}");
        string outDir = Path.Combine(fx.Root, "sparse-" + optimizer);
        var selections = RunSparse(cfg, outDir, 4);
        var before = Weights(fx.BaseDir);
        var after = Weights(outDir);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var name in before.Keys.Where(n => n != "memory_values.weight"))
            TensorAssert.Identical(before[name], after[name], name);
        var union = selections.SelectMany(s => s).ToHashSet();
        Assert.All(selections, s => Assert.InRange(s.Length, 1, 6));
        var changed = RowsChanged(before["memory_values.weight"], after["memory_values.weight"]);
        Assert.Subset(union, changed.ToHashSet());
        Assert.Equal(union.Order(), changed.Order());   // SGD/Adam with nonzero grads moves every selected row
    }

    [Fact]
    public void A_row_selected_earlier_but_not_now_does_not_move_with_adamw()
    {
        var cfg = Config("sparse", "sparse.top_t=6", "lr=0.5", "sparse.optimizer=adam_w", "sparse.weight_decay=0.1");
        var loaded = Checkpoint.Load(fx.BaseDir);
        var data = FactBatches.Create(FactsFile.Read(fx.FactsPath), loaded.Tokenizer, 4, 1, 1, false, 32);
        var method = (SparseMemoryMethod)FinetuneMethods.Create(cfg, fx.BaseDir);
        var values = loaded.Model.MemoryValues!;
        var trainer = new Trainer(loaded.Model, method, data, new LoopSettings(1, 0, 1, 0, 1, 100, 100), torch.CPU);
        // Step twice by hand through the trainer's loop pieces: run 1 step, snapshot, run the next fact.
        trainer.Run(Path.Combine(fx.Root, "adam-a"));
        var first = method.LastSelection.ToHashSet();
        var snapshot = values.detach().clone();
        var trainer2 = new Trainer(loaded.Model, method, new ShiftedSource(data, 1), new LoopSettings(1, 0, 1, 0, 1, 100, 100), torch.CPU);
        trainer2.Run(Path.Combine(fx.Root, "adam-b"));
        var second = method.LastSelection.ToHashSet();
        var onlyFirst = first.Except(second).ToArray();
        Assert.NotEmpty(onlyFirst);
        foreach (long r in onlyFirst) TensorAssert.Identical(snapshot[r], values.detach()[r], $"row {r} (selected at step 1 only)");
        var moved = RowsChanged(snapshot, values.detach());
        Assert.Equal(second.Order(), moved.Order());
        method.Dispose();
    }

    sealed class ShiftedSource(IBatchSource inner, int shift) : IBatchSource
    {
        public TrainingBatch Get(int step) => inner.Get(step + shift);
    }

    [Fact]
    public void Selected_row_gradients_equal_the_dense_embedding_bag_gradient_in_float64()
    {
        var loaded = Checkpoint.Load(fx.BaseDir);
        var model = loaded.Model;
        model.to(ScalarType.Float64);
        var data = FactBatches.Create(FactsFile.Read(fx.FactsPath), loaded.Tokenizer, 4, 1, 1, false, 32);
        var batch = data.Get(0);
        // Dense reference: ordinary autograd into the whole table.
        foreach (var p in model.parameters()) p.requires_grad = false;
        model.MemoryValues!.requires_grad = true;
        LanguageModel.Loss(model.Forward(batch.Inputs, null, batch.ValidMask), batch.Targets).backward();
        var dense = model.MemoryValues.grad!.clone();
        model.MemoryValues.grad = null;
        // Fast path: captured reads.
        var method = new SparseMemoryMethod(new SparseMemoryOptions(8, "all_accessed", "sgd", 1.0), null);
        method.Prepare(model);
        var log = new MemoryAccessLog();
        LanguageModel.Loss(model.Forward(batch.Inputs, log, batch.ValidMask), batch.Targets).backward();
        Assert.Null(model.MemoryValues.grad);                                 // no dense table gradient was built
        long[] rows = dense.abs().sum(1).gt(0).nonzero().squeeze(1).data<long>().ToArray();
        var fast = method.RowGradients(log, rows, model.MemoryValues);
        var reference = dense.index_select(0, torch.tensor(rows));
        double maxDiff = (fast - reference).abs().max().item<double>();
        Assert.True(maxDiff < 1e-12, $"max |diff| {maxDiff:G3}");
        method.Dispose();
    }

    [Fact]
    public void Managed_row_gradients_equal_the_libtorch_formation_in_float32()
    {
        var loaded = Checkpoint.Load(fx.BaseDir);
        var model = loaded.Model;                                              // float32: the managed path applies
        var batch = FactBatches.Create(FactsFile.Read(fx.FactsPath), loaded.Tokenizer, 4, 1, 1, false, 32).Get(0);
        Assert.NotNull(batch.ValidMask);
        var method = new SparseMemoryMethod(new SparseMemoryOptions(8, "all_accessed", "sgd", 1.0), null);
        method.Prepare(model);
        var log = new MemoryAccessLog();
        LanguageModel.Loss(model.Forward(batch.Inputs, log, batch.ValidMask), batch.Targets).backward();
        Assert.True(ValueRowGradients.SupportsManaged(log, model.MemoryValues!));
        // Every read row, some rows nobody read, in a scrambled order.
        var read = log.Accesses.SelectMany(a => a.Indices.reshape(-1).data<long>().ToArray()).Distinct().ToArray();
        var rng = new Random(3);
        long[] rows = read.Concat(Enumerable.Range(0, 5).Select(_ => (long)rng.Next((int)model.MemoryValues!.shape[0])))
            .Distinct().OrderBy(_ => rng.Next()).ToArray();
        var fast = method.RowGradients(log, rows, model.MemoryValues!);
        var reference = method.RowGradientsWithTorch(log, rows, model.MemoryValues!);
        Assert.Equal(reference.shape, fast.shape);
        double scale = reference.abs().max().item<float>();
        double maxDiff = (fast - reference).abs().max().item<float>();
        Assert.True(scale > 0, "the batch produced no value gradient");
        Assert.True(maxDiff <= 1e-6 * scale, $"max |diff| {maxDiff:G3} vs scale {scale:G3}");
        // A second call with another selection must not see the first one's rows.
        var some = rows.Take(3).ToArray();
        TensorAssert.Identical(method.RowGradientsWithTorch(log, some, model.MemoryValues!), method.RowGradients(log, some, model.MemoryValues!));
        method.Dispose();
    }

    [Fact]
    public void Sgd_step_equals_a_hand_computed_update_of_the_selected_rows_in_float64()
    {
        var loaded = Checkpoint.Load(fx.BaseDir);
        var model = loaded.Model;
        model.to(ScalarType.Float64);
        var batch = FactBatches.Create(FactsFile.Read(fx.FactsPath), loaded.Tokenizer, 4, 1, 1, false, 32).Get(0);
        // Reference: dense autograd gradient of the whole table, then w − lr·g on the chosen rows only.
        foreach (var p in model.parameters()) p.requires_grad = false;
        model.MemoryValues!.requires_grad = true;
        LanguageModel.Loss(model.Forward(batch.Inputs, null, batch.ValidMask), batch.Targets).backward();
        var dense = model.MemoryValues.grad!.clone();
        model.MemoryValues.grad = null;
        var before = model.MemoryValues.detach().clone();
        // Fast path: the method's own SGD step through the optimizer hook.
        const double lr = 3.0;
        var method = new SparseMemoryMethod(new SparseMemoryOptions(5, "tf_only", "sgd", lr), null);
        method.Prepare(model);
        var opt = method.CreateOptimizer(method.ParameterGroups(model), new LoopSettings(1, 0, 1, 0, 1, 1, 1))!;
        var log = new MemoryAccessLog();
        LanguageModel.Loss(model.Forward(batch.Inputs, log, batch.ValidMask), batch.Targets).backward();
        method.AfterBackward(new StepContext(0, model, batch, log, new Dictionary<string, double>()));
        opt.Step();
        var rows = method.LastSelection;
        Assert.Equal(5, rows.Length);
        var idx = torch.tensor(rows);
        var expected = before.index_select(0, idx) - lr * dense.index_select(0, idx);
        double maxDiff = (model.MemoryValues.detach().index_select(0, idx) - expected).abs().max().item<double>();
        Assert.True(maxDiff < 1e-12, $"selected rows: max |diff| {maxDiff:G3}");
        Assert.Equal(rows.Order(), RowsChanged(before, model.MemoryValues.detach()).Order());
        method.Dispose();
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Every_method_changes_exactly_what_it_declares_trainable_finitely_and_reproducibly(string name)
    {
        var spec = FinetuneMethods.Registry.Get(name, "method");
        string outDir = Path.Combine(fx.Root, "m-" + name);
        var cfg = Config(name, "steps=3", Lr(name));
        FinetuneRun.Run(cfg, outDir, NullObserver.Instance);
        var before = Weights(fx.BaseDir);
        var after = Weights(outDir);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());            // every method exports the plain key set (LoRA: merged)
        var moved = before.Keys.Where(k => !TensorAssert.Same(before[k], after[k])).Order().ToList();
        var declared = before.Keys.Where(k => spec.Trains(cfg, k)).Order().ToList();
        Assert.NotEmpty(declared);
        Assert.Equal(declared, moved);
        foreach (var (k, t) in after) Assert.True(t.isfinite().all().item<bool>(), $"{name}: {k} is not finite");
        var loaded = Checkpoint.Load(outDir);
        var batch = FactBatches.Create(FactsFile.Read(fx.FactsPath), loaded.Tokenizer, 4, 1, 1, false, 32).Get(0);
        using (torch.no_grad())
            Assert.True(loaded.Model.Forward(batch.Inputs, null, batch.ValidMask).isfinite().all().item<bool>(), $"{name}: logits not finite");
        // Same config, same seed → same numbers.
        string again = Path.Combine(fx.Root, "m2-" + name);
        FinetuneRun.Run(cfg, again, NullObserver.Instance);
        var rerun = Weights(again);
        foreach (var k in after.Keys) TensorAssert.Identical(after[k], rerun[k], k);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Every_method_at_lr_zero_changes_nothing(string name)
    {
        var cfg = FinetuneMethods.Canonical(Config(name));
        var spec = FinetuneMethods.Spec(cfg);
        var loaded = Checkpoint.Load(fx.BaseDir);
        var method = spec.Create(cfg, 0.0, FinetuneMethods.LoadBackground(cfg, fx.BaseDir));
        var data = FactBatches.Create(FactsFile.Read(fx.FactsPath), loaded.Tokenizer, 4, 1, 1, false, 32);
        string outDir = Path.Combine(fx.Root, "lr0-" + name);
        new Trainer(loaded.Model, method, data, FinetuneMethods.Loop(cfg, 2), torch.CPU).Run(outDir);
        (method as IDisposable)?.Dispose();
        var before = Weights(fx.BaseDir);
        var after = Weights(outDir);
        foreach (var k in before.Keys) TensorAssert.Identical(before[k], after[k], $"{name}: {k}");
    }

    sealed class CrashAt(int step) : ITrainingObserver
    {
        public void OnStep(StepReport r) { if (r.Step == step) throw new OperationCanceledException(); }
        public void OnEval(int s, IReadOnlyDictionary<string, double> m) { }
        public void OnMessage(string m) { }
    }

    /// <summary>Every method, plus the sparse method with each row optimizer (their state must survive the resume too).</summary>
    public static TheoryData<string, string> ResumeCases
    {
        get
        {
            var cases = new TheoryData<string, string>();
            foreach (var m in FinetuneMethods.Registry.Names) cases.Add(m, RowOptimizers.Registry.Names[0]);
            foreach (var o in RowOptimizers.Registry.Names.Skip(1)) cases.Add(SparseMemoryMethod.Spec.Name, o);
            return cases;
        }
    }

    [Theory]
    [MemberData(nameof(ResumeCases))]
    public void Resume_mid_stream_neither_skips_nor_repeats_an_item(string kind, string optimizer)
    {
        var cfg = Config(kind, "steps=5", $"sparse.optimizer={optimizer}", FinetuneMethods.Registry.Get(kind, "method").DefaultLr >= 1 ? "lr=0.5" : "lr=0.01");
        string full = Path.Combine(fx.Root, $"r-full-{kind}-{optimizer}");
        string crashed = Path.Combine(fx.Root, $"r-crash-{kind}-{optimizer}");
        FinetuneRun.Run(cfg, full, NullObserver.Instance);
        Assert.Throws<OperationCanceledException>(() => FinetuneRun.Run(cfg, crashed, new CrashAt(3)));  // checkpoint at 2
        FinetuneRun.Run(cfg, crashed, NullObserver.Instance);
        var a = Weights(full);
        var b = Weights(crashed);
        foreach (var k in a.Keys) TensorAssert.Identical(a[k], b[k], k);
        Assert.Equal(RunAssert.Metrics(full, "tokens"), RunAssert.Metrics(crashed, "tokens"));
    }

    [Fact]
    public void Padding_is_excluded_from_counts_and_loss()
    {
        var loaded = Checkpoint.Load(fx.BaseDir);
        var batch = FactBatches.Pad([[5, 6, 7, 8], [9]], loaded.Tokenizer, 32);
        // Row 1: <eos> 9 <eos> then padding; inputs at pad positions are the pad id, targets −1, mask false.
        Assert.Equal(new long[] { loaded.Tokenizer.EosId, 9, loaded.Tokenizer.PadId, loaded.Tokenizer.PadId, loaded.Tokenizer.PadId }, batch.Inputs[1].data<long>().ToArray());
        Assert.Equal(new long[] { 9, loaded.Tokenizer.EosId, -1, -1, -1 }, batch.Targets[1].data<long>().ToArray());
        Assert.Equal(new[] { true, true, false, false, false }, batch.ValidMask![1].data<bool>().ToArray());
        var log = new MemoryAccessLog();
        using (torch.no_grad()) loaded.Model.Forward(batch.Inputs, log, batch.ValidMask);
        var counts = SlotCounts.FromAccesses(log.Accesses.Select(a => (a.Indices, a.ValidMask!)).ToList(), loaded.Model.MemoryValues!.shape[0]);
        long perToken = log.Accesses[0].Indices.shape[2] * log.Accesses.Count;
        Assert.Equal((5 + 2) * perToken, counts.TotalAccesses);               // 7 real positions, none of the 3 pads
    }

    internal static long[] RowsChanged(Tensor a, Tensor b)
    {
        var rows = new List<long>();
        for (long r = 0; r < a.shape[0]; r++)
            if (!TensorAssert.Same(a[r], b[r])) rows.Add(r);
        return rows.ToArray();
    }
}
