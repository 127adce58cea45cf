using SparseMemory.Config;
using SparseMemory.Memory;
using SparseMemory.Model;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Memory;

/// <summary>The managed backward of the memory read (<see cref="ValueRead"/>) against libtorch's EmbeddingBag backward.</summary>
public sealed class ValueReadTests
{
    static double MaxDiff(Tensor a, Tensor b) => (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
    static double MaxAbs(Tensor a) => Math.Max(1e-6, a.abs().max().to(ScalarType.Float64).item<double>());

    [Theory]
    [InlineData(ScalarType.Float64, 1, true, true, 1e-12)]
    [InlineData(ScalarType.Float64, 3, true, true, 1e-12)]     // three row ranges: every read handled by exactly one part
    [InlineData(ScalarType.Float64, 2, false, true, 1e-12)]    // only the weights need gradient (e.g. frozen table)
    [InlineData(ScalarType.Float64, 2, true, false, 1e-12)]    // only the table
    [InlineData(ScalarType.Float32, 2, true, true, 1e-5)]
    public void Gradients_equal_the_embedding_bag_backward(ScalarType dtype, int parts, bool tableGrad, bool weightGrad, double tol)
    {
        // Dv = 13 is not a multiple of the vector width (the scalar tails run); ids repeat within and across rows.
        torch.manual_seed(parts);
        var bag = nn.EmbeddingBag(50, 13, mode: EmbeddingBagMode.Sum);
        bag.to(dtype);
        bag.weight!.requires_grad = tableGrad;
        var g = new torch.Generator(7);
        var ids = torch.randint(0, 50, [37, 9], generator: g);
        var w = torch.rand([37, 9], dtype, generator: g).requires_grad_(weightGrad);
        var up = torch.randn([37, 13], dtype, generator: g);

        (bag.forward(ids, null, w) * up).sum().backward();
        var refTable = bag.weight.grad?.clone();
        var refW = w.grad?.clone();
        bag.zero_grad();
        w.grad?.zero_();

        ValueRead.PartsForTests = parts;
        try
        {
            Assert.True(ValueRead.Supports(bag.weight, w));
            var y = ValueRead.Apply(bag, ids, w);
            using (torch.no_grad()) Assert.True(MaxDiff(y, bag.forward(ids, null, w)) == 0, "forward is libtorch's");
            (y * up).sum().backward();
        }
        finally { ValueRead.PartsForTests = null; }
        if (tableGrad) Assert.True(MaxDiff(refTable!, bag.weight.grad!) <= tol * MaxAbs(refTable!), $"table gradient: {MaxDiff(refTable!, bag.weight.grad!):G3}");
        else Assert.Null(bag.weight.grad);
        if (weightGrad) Assert.True(MaxDiff(refW!, w.grad!) <= tol * MaxAbs(refW!), $"weight gradient: {MaxDiff(refW!, w.grad!):G3}");
    }

    [Fact]
    public void Model_gradients_are_the_same_with_and_without_the_managed_backward_in_float64()
    {
        var cfg = new ModelConfig
        {
            VocabSize = 280, Dim = 24, Layers = 3, Heads = 2, FfnHidden = 40, MaxSeqLen = 32, InitStd = 0.2,
            Memory = new MemoryConfig { Layers = [0, 2], NumKeys = 8, Heads = 2, TopK = 4, KeyDim = 8 },
        };
        var x = torch.randint(0, 280, [3, 12], generator: new torch.Generator(3));
        LanguageModel Build(bool managed)
        {
            torch.manual_seed(4);
            var m = new LanguageModel(cfg) { FastPaths = FastPaths.On with { ManagedValueBackward = managed } };
            m.to(ScalarType.Float64);
            return m;
        }
        Dictionary<string, Tensor> Grads(LanguageModel m)
        {
            LanguageModel.Loss(m.forward(x[.., ..11]), x[.., 1..]).backward();
            return m.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        }
        // Both models exist at once and the managed one runs first: the switch belongs to the model, not the process.
        var referenceModel = Build(false);
        var managedModel = Build(true);
        int before = ValueRead.BackwardCalls;
        var managed = Grads(managedModel);
        Assert.Equal(before + 2, ValueRead.BackwardCalls);             // both memory layers took the managed backward
        var reference = Grads(referenceModel);
        Assert.Equal(before + 2, ValueRead.BackwardCalls);             // the reference model did not
        foreach (var (name, r) in reference)
            Assert.True(MaxDiff(r, managed[name]) <= 1e-12 * MaxAbs(r), $"{name}: max |Δ| {MaxDiff(r, managed[name]):G3}");
    }
}
