using SparseMemory.Config;
using SparseMemory.Memory;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Memory;

/// <summary>The managed CPU product-key selection against plain references (sort of all N² pair scores; libtorch topk).</summary>
public sealed class ProductKeyTopKTests
{
    /// <summary>Reference: the K best (first, second) sub-key pairs of one row by sorting all N² sums in float64.</summary>
    static List<(int First, int Second, double Score)> Reference(float[] s1, float[] s2, int k) =>
        (from i in Enumerable.Range(0, s1.Length) from j in Enumerable.Range(0, s2.Length)
         select (i, j, (double)(s1[i] + s2[j])))                       // the float32 sum, as both fast paths form it
        .OrderByDescending(p => p.Item3).ThenBy(p => p.i).ThenBy(p => p.j).Take(k).ToList();

    [Theory]
    [InlineData(128, 32, 300, 1)]
    [InlineData(128, 1, 50, 2)]
    [InlineData(16, 16, 40, 3)]        // K = N
    [InlineData(13, 5, 60, 4)]         // N not a multiple of the vector width
    [InlineData(7, 7, 30, 5)]
    [InlineData(64, 9, 80, 6)]
    public void Selection_equals_sorting_all_pairs(int n, int k, int rows, int seed)
    {
        // Half scores built tie-free and interleaving: distinct integers on the first half, distinct integer multiples of
        // √½ on the second, so pair sums i + j·√½ are all distinct (|Δi + Δj·√½| ≫ float32 rounding for |Δ| ≤ 128) and the
        // top-K mixes several ranks of both halves.
        var rng = new Random(seed);
        var data = new float[rows * 2 * n];
        for (int r = 0; r < rows; r++)
        {
            var p1 = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).ToArray();
            var p2 = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).ToArray();
            for (int i = 0; i < n; i++)
            {
                data[(r * 2) * n + i] = p1[i] - n / 2;
                data[(r * 2 + 1) * n + i] = p2[i] * 0.70710678f;
            }
        }
        var scores = torch.tensor(data, [rows, 2, n]);
        var (first, second) = ProductKeyTopK.Select(scores, k)!.Value;
        var f = first.data<long>().ToArray();
        var g = second.data<long>().ToArray();
        for (int r = 0; r < rows; r++)
        {
            var expected = Reference(data[(r * 2 * n)..(r * 2 * n + n)], data[(r * 2 * n + n)..((r + 1) * 2 * n)], k);
            for (int j = 0; j < k; j++)
                Assert.True(f[r * k + j] == expected[j].First && g[r * k + j] == expected[j].Second,
                    $"row {r}, rank {j}: managed ({f[r * k + j]}, {g[r * k + j]}) vs reference ({expected[j].First}, {expected[j].Second})");
        }
    }

    [Theory]
    [InlineData(4, 1024, 32, 50, 1)]   // the large preset's N and K
    [InlineData(3, 13, 5, 40, 2)]
    public void Planar_layout_selects_exactly_what_the_row_layout_selects(int heads, int n, int k, int tokens, int seed)
    {
        // The memory layer computes half scores as (H·2, tokens, N) planes; the same scores as [tokens, H, 2, N] rows
        // must give the same pairs, bit for bit.
        var planes = torch.randn([heads * 2, tokens, n], generator: new torch.Generator((ulong)seed));
        var rows = planes.view(heads, 2, tokens, n).permute(2, 0, 1, 3).contiguous();
        var (f1, s1) = ProductKeyTopK.SelectPlanar(planes, heads, k)!.Value;
        var (f2, s2) = ProductKeyTopK.Select(rows, k)!.Value;
        Assert.Equal([tokens, heads, k], f1.shape);
        TensorAssert.Identical(f2, f1, "first-half indices");
        TensorAssert.Identical(s2, s1, "second-half indices");
    }

    [Fact]
    public void Gaussian_scores_give_the_reference_top_k_scores_in_order()
    {
        // Random float32 scores may tie; the selected scores must still be exactly the K best, in order, with distinct pairs.
        int n = 128, k = 32, rows = 200;
        var gen = new torch.Generator(11);
        var scores = torch.randn([rows, 2, n], generator: gen);
        var data = scores.data<float>().ToArray();
        var (first, second) = ProductKeyTopK.Select(scores, k)!.Value;
        var f = first.data<long>().ToArray();
        var g = second.data<long>().ToArray();
        for (int r = 0; r < rows; r++)
        {
            var s1 = data[(r * 2 * n)..(r * 2 * n + n)];
            var s2 = data[(r * 2 * n + n)..((r + 1) * 2 * n)];
            var expected = Reference(s1, s2, k);
            var got = Enumerable.Range(0, k).Select(j => (double)(s1[f[r * k + j]] + s2[g[r * k + j]])).ToList();
            Assert.Equal(expected.Select(e => e.Score), got);
            Assert.Equal(k, Enumerable.Range(0, k).Select(j => (f[r * k + j], g[r * k + j])).Distinct().Count());
        }
    }

    [Fact]
    public void Ties_go_to_the_lower_indices()
    {
        // All-equal halves: every pair ties, so the order is by (first, second) index: (0,0), (0,1), (0,2), (1,0)…
        // Only rank pairs with (u+1)(v+1) ≤ K are candidates, so with K = 4: (0,0), (0,1), (0,2), (0,3).
        var scores = torch.zeros([1, 2, 6]);
        var (first, second) = ProductKeyTopK.Select(scores, 4)!.Value;
        Assert.Equal([0L, 0, 0, 0], first.data<long>().ToArray());
        Assert.Equal([0L, 1, 2, 3], second.data<long>().ToArray());
        // One half tied, the other not: the tied half's lower index comes first.
        var s = torch.tensor(new float[] { 5, 5, 1, 0, /* second half */ 0, 3, 2, 1 }, [1, 2, 4]);
        var (f2, g2) = ProductKeyTopK.Select(s, 2)!.Value;
        Assert.Equal([0L, 1], f2.data<long>().ToArray());
        Assert.Equal([1L, 1], g2.data<long>().ToArray());
    }

    [Fact]
    public void Nan_scores_fall_back_to_libtorch()
    {
        var scores = torch.randn([3, 2, 16]);
        scores[1, 0, 5] = torch.tensor(float.NaN);
        Assert.Null(ProductKeyTopK.Select(scores, 4));
    }

    [Fact]
    public void Unsupported_input_is_refused_with_a_clear_error()
    {
        Assert.Throws<ArgumentException>(() => ProductKeyTopK.Select(torch.zeros([2, 2, 8], ScalarType.Float64), 2));
        Assert.Throws<ArgumentException>(() => ProductKeyTopK.Select(torch.zeros([2, 3, 8]), 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProductKeyTopK.Select(torch.zeros([2, 2, 8]), 9));
    }

    [Fact]
    public void Layer_search_matches_the_libtorch_search_in_ids_scores_and_gradients()
    {
        var cfg = new MemoryConfig { Layers = [0], NumKeys = 32, Heads = 4, TopK = 8, KeyDim = 16, ValueDim = 8 };
        torch.manual_seed(3);
        var bag = nn.EmbeddingBag(cfg.Slots, 8, mode: EmbeddingBagMode.Sum);
        var layer = new ProductKeyMemory(0, 24, cfg, new SharedValues(bag));
        var x = torch.randn([40, 24], generator: new torch.Generator(4));
        var (ids, scores) = layer.Search(x);
        var g = torch.randn(scores.shape, generator: new torch.Generator(5));
        (scores * g).sum().backward();
        var grads = layer.named_parameters().Where(p => p.parameter.grad is not null).ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        layer.zero_grad();
        var (refIds, refScores) = layer.SearchWithTorch(x);
        (refScores * g).sum().backward();
        TensorAssert.Identical(refIds, ids);
        TensorAssert.Identical(refScores, scores);
        Assert.Contains("keys", grads.Keys);
        Assert.Contains("query.weight", grads.Keys);
        foreach (var (name, p) in layer.named_parameters().Where(p => p.parameter.grad is not null))
            TensorAssert.Identical(p.grad!, grads[name]);
    }
}
