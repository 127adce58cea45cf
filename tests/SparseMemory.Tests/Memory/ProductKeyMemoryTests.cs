using SparseMemory.Config;
using SparseMemory.Memory;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace SparseMemory.Tests.Memory;

public sealed class ProductKeyMemoryTests
{
    static (ProductKeyMemory Layer, TorchSharp.Modules.EmbeddingBag Bag) Build(int dim, MemoryConfig cfg, int seed, ScalarType dtype)
    {
        torch.manual_seed(seed);
        var bag = nn.EmbeddingBag(cfg.Slots, cfg.ResolvedValueDim(dim), mode: EmbeddingBagMode.Sum);
        using (torch.no_grad()) nn.init.normal_(bag.weight!, 0, 1.0);
        var layer = new ProductKeyMemory(0, dim, cfg, new SharedValues(bag));
        layer.to(dtype);
        bag.to(dtype);
        return (layer, bag);
    }

    [Theory]
    [InlineData(8, 1, 2, 4, 1)]
    [InlineData(16, 2, 4, 8, 2)]
    [InlineData(16, 4, 16, 16, 3)]
    [InlineData(32, 3, 5, 6, 4)]
    [InlineData(7, 2, 7, 4, 5)]      // K = N: every sub-key survives the first stage
    public void Product_key_search_equals_brute_force_top_k(int numKeys, int heads, int topK, int keyDim, int seed)
    {
        var cfg = new MemoryConfig { Layers = [0], NumKeys = numKeys, Heads = heads, TopK = topK, KeyDim = keyDim, ValueDim = 6 };
        var (layer, bag) = Build(12, cfg, seed, ScalarType.Float64);
        var gen = new torch.Generator((ulong)seed);
        var x = torch.randn([3, 5, 12], ScalarType.Float64, generator: gen);
        var (ids, scores) = layer.Search(x.reshape(15, 12));
        var (_, refIds) = BruteForceMemory.Forward(layer, bag.weight!, x, heads, numKeys, topK, keyDim, true);
        // Random float64 inputs have no ties, so the ordered id lists must agree exactly.
        var a = ids.data<long>().ToArray();
        var r = refIds.data<long>().ToArray();
        Assert.Equal(r.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(a[i] == r[i], $"slot id mismatch at flat position {i}: product-key {a[i]} vs brute force {r[i]}");
        Assert.True(scores.diff(dim: -1).le(0).all().item<bool>(), "scores must be sorted descending per head");
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 2)]
    public void Output_and_gradients_match_float64_reference(bool gated, int seed)
    {
        int dim = 10, heads = 2, n = 6, k = 3, dk = 8;
        var cfg = new MemoryConfig { Layers = [0], NumKeys = n, Heads = heads, TopK = k, KeyDim = dk, ValueDim = 5, Gated = gated };
        var (layer, bag) = Build(dim, cfg, seed, ScalarType.Float64);
        var gen = new torch.Generator((ulong)seed + 100);
        var x = torch.randn([2, 4, dim], ScalarType.Float64, generator: gen);
        var g = torch.randn([2, 4, dim], ScalarType.Float64, generator: gen);

        var outFast = layer.forward(x);
        (outFast * g).sum().backward();
        var fastGrads = layer.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        var fastValueGrad = bag.weight!.grad!.clone();
        layer.zero_grad(); bag.zero_grad();

        var (outRef, ids) = BruteForceMemory.Forward(layer, bag.weight!, x, heads, n, k, dk, gated);
        (outRef * g).sum().backward();
        AssertClose(outRef, outFast, "output");
        AssertClose(bag.weight!.grad!, fastValueGrad, "memory_values.weight grad");
        foreach (var (name, p) in layer.named_parameters()) AssertClose(p.grad!, fastGrads[name], name + " grad");

        // Rows with a nonzero value gradient are exactly the retrieved slots.
        var touched = fastValueGrad.abs().sum(1).gt(0).nonzero().squeeze(1).data<long>().ToHashSet();
        var retrieved = ids.data<long>().ToHashSet();
        Assert.Equal(retrieved.Order(), touched.Order());
        // Keys and query receive gradient (attention weights are not dropped; docs/pitfalls.md#keys-and-query-receive-gradient).
        Assert.True(fastGrads["keys"].abs().sum().item<double>() > 0);
        Assert.True(fastGrads["query.weight"].abs().sum().item<double>() > 0);
    }

    [Fact]
    public void Heads_are_summed_not_averaged()
    {
        var cfg = new MemoryConfig { Layers = [0], NumKeys = 4, Heads = 3, TopK = 2, KeyDim = 4, ValueDim = 3, Gated = false };
        var (layer, bag) = Build(6, cfg, 9, ScalarType.Float64);
        using (torch.no_grad()) bag.weight!.fill_(1.0);                    // every value row = 1 → y = Σ weights = H
        var log = new MemoryAccessLog();
        layer.AccessLog = log;
        var x = torch.randn([1, 2, 6], ScalarType.Float64);
        layer.forward(x);
        var w = log.Accesses[0].Weights;                                       // (1, 2, H·K)
        Assert.Equal(3.0, w.sum(-1)[0, 0].item<double>(), 12);
        Assert.Equal([1L, 2L, 6L], log.Accesses[0].Indices.shape);
    }

    static void AssertClose(Tensor expected, Tensor actual, string what, double tol = 1e-10)
    {
        Assert.Equal(expected.shape, actual.shape);
        double maxDiff = (expected - actual).abs().max().item<double>();
        if (maxDiff > tol)
        {
            var e = expected.reshape(-1).data<double>().ToArray();
            var a = actual.reshape(-1).data<double>().ToArray();
            var first = Enumerable.Range(0, e.Length).Where(i => Math.Abs(e[i] - a[i]) > tol).Take(5)
                .Select(i => $"[{i}] expected {e[i]:G17} got {a[i]:G17}");
            Assert.Fail($"{what}: max |diff| {maxDiff:G3} > {tol:G3}; first mismatches: {string.Join("; ", first)}");
        }
    }
}
