using SparseMemory.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Finetuning;

/// <summary>Row-invariance of the row-sparse AdamW (docs/testing.md#optimizer-row-invariance).</summary>
public sealed class RowSparseAdamWTests
{
    private const long S = 10, Dv = 4;
    private const double Lr = 0.01, B1 = 0.9, B2 = 0.999, Eps = 1e-8, Wd = 0.1;

    private static double[] Row(Tensor t, long row) => t.detach()[row].data<double>().ToArray();

    private static bool BitEqual(double[] a, double[] b) =>
        a.Length == b.Length && a.Zip(b).All(p => BitConverter.DoubleToInt64Bits(p.First) == BitConverter.DoubleToInt64Bits(p.Second));

    [Fact]
    public void Only_selected_rows_move_and_step_one_matches_hand_computed_adamw()
    {
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(11);
        var weight = torch.randn(S, Dv, dtype: float64, generator: gen).requires_grad_();
        var initial = Enumerable.Range(0, (int)S).Select(r => Row(weight, r)).ToArray();
        using var opt = new RowSparseAdamW(B1, B2, Eps, Wd);

        long[] m1 = [1, 3, 5], m2 = [3, 7], m3 = [0, 3];
        var grads = Enumerable.Range(0, 3).Select(_ => torch.randn(S, Dv, dtype: float64, generator: gen)).ToArray();

        opt.Step(weight, grads[0], m1, Lr);
        var afterStep1 = Enumerable.Range(0, (int)S).Select(r => Row(weight, r)).ToArray();
        foreach (long r in m1)
        {
            var g = Row(grads[0], r);
            for (int j = 0; j < Dv; j++)
            {
                double w = initial[r][j] * (1 - (Lr * Wd));
                double m = (1 - B1) * g[j];
                double v = (1 - B2) * g[j] * g[j];
                double expected = w - (Lr / (1 - B1) * m / ((Math.Sqrt(v) / Math.Sqrt(1 - B2)) + Eps));
                Assert.True(Math.Abs(afterStep1[r][j] - expected) <= 1e-12 * Math.Abs(expected), $"row {r}, col {j}: {afterStep1[r][j]:R} vs {expected:R}");
            }
        }

        opt.Step(weight, grads[1], m2, Lr);
        // Rows selected at step 1 but not at step 2 do not move at step 2 (no momentum leak, no decay).
        Assert.True(BitEqual(afterStep1[1], Row(weight, 1)));
        Assert.True(BitEqual(afterStep1[5], Row(weight, 5)));
        Assert.Equal(2, opt.RowStepCount(3));
        Assert.Equal(1, opt.RowStepCount(7));
        Assert.Equal(1, opt.RowStepCount(1));

        opt.Step(weight, grads[2], m3, Lr);
        Assert.True(BitEqual(afterStep1[1], Row(weight, 1)));
        Assert.True(BitEqual(afterStep1[5], Row(weight, 5)));
        foreach (long r in new long[] { 2, 4, 6, 8, 9 })
        {
            Assert.True(BitEqual(initial[r], Row(weight, r)), $"row {r} outside every mask moved");
            Assert.True(Row(opt.ExpAvg!, r).All(x => x == 0) && Row(opt.ExpAvgSq!, r).All(x => x == 0), $"state of row {r} changed");
            Assert.Equal(0, opt.RowStepCount(r));
        }

        foreach (long r in new long[] { 0, 3, 7 })
        {
            Assert.False(BitEqual(initial[r], Row(weight, r)), $"selected row {r} did not move");
        }
    }

    [Fact]
    public void Weight_decay_alone_reaches_only_selected_rows()
    {
        using var scope = torch.NewDisposeScope();
        var weight = torch.ones(S, Dv, dtype: float64).requires_grad_();
        using var opt = new RowSparseAdamW(weightDecay: 0.5);
        opt.Step(weight, torch.zeros(S, Dv, dtype: float64), [2], 0.1);
        Assert.All(Row(weight, 2), x => Assert.Equal(0.95, x, 15));
        for (long r = 0; r < S; r++)
        {
            if (r != 2)
            {
                Assert.All(Row(weight, r), x => Assert.Equal(1.0, x));
            }
        }

        Assert.Throws<ArgumentException>(() => opt.Step(weight, torch.zeros(S, Dv, dtype: float64), [1, 1], 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => opt.Step(weight, torch.zeros(S, Dv, dtype: float64), [S], 0.1));
    }

    [Fact]
    public void MaskRowsInPlace_keeps_only_the_given_rows_and_reuses_its_buffer()
    {
        using var scope = torch.NewDisposeScope();
        using var mask = new RowGradientMask();
        var gen = new torch.Generator(5);
        for (int call = 0; call < 2; call++)
        {
            var grad = torch.randn(S, Dv, dtype: float64, generator: gen);
            grad[6] = torch.full(Dv, double.PositiveInfinity, dtype: float64);
            var original = grad.clone();
            long[] keep = call == 0 ? [0, 4] : [4, 9];
            mask.MaskRowsInPlace(grad, keep);
            for (long r = 0; r < S; r++)
            {
                var row = Row(grad, r);
                if (keep.Contains(r))
                {
                    Assert.True(BitEqual(Row(original, r), row));
                }
                else
                {
                    Assert.All(row, x => Assert.Equal(0.0, x));
                }
            }
        }
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    public void Managed_float32_path_matches_the_libtorch_path_and_writes_nothing_else(double wd)
    {
        using var scope = torch.NewDisposeScope();
        const int s = 40, dv = 19;                                          // 19: two SIMD blocks and a scalar tail
        var gen = new torch.Generator(3);
        var start = torch.randn(s, dv, generator: gen);
        var fast = start.clone();
        var slow = start.clone();
        using var managed = new RowSparseAdamW(0.9, 0.95, 1e-8, wd);
        using var reference = new RowSparseAdamW(0.9, 0.95, 1e-8, wd) { ForceTorchPath = true };
        long[][] steps = [[3, 7, 11, 30], [7, 8], [0, 3, 39, 11, 7]];
        foreach (var rows in steps)
        {
            var g = torch.randn(rows.Length, dv, generator: gen);
            var before = fast.clone();
            managed.StepRows(fast, g, rows, 0.01);
            reference.StepRows(slow, g, rows, 0.01);
            double diff = (fast - slow).abs().max().item<float>();
            Assert.True(diff <= 1e-6, $"managed vs libtorch: max |diff| {diff:G3}");
            for (long r = 0; r < s; r++)
                if (!rows.Contains(r)) TensorAssert.Identical(before[r], fast[r], $"row {r} not stepped");
        }
        foreach (var ((_, a), (_, b)) in managed.State().Zip(reference.State()))
            Assert.True((a.to(float64) - b.to(float64)).abs().max().item<double>() <= 1e-6);
    }
}
