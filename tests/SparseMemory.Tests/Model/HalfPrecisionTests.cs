using SparseMemory.Model;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace SparseMemory.Tests.Model;

/// <summary>
/// The numerically sensitive steps of a 16-bit model compute in float32 and round once or twice at the end
/// (<see cref="ModelDtypes"/>, docs/own-model.md#kept-dtypes), which bounds their error against float64 by one or two
/// units of roundoff u of the 16-bit dtype. Doing the same steps in 16 bits rounds every intermediate (squares, their
/// mean, the root, the tables, each product) and breaks these bounds.
/// </summary>
public sealed class HalfPrecisionTests
{
    public static TheoryData<string> HalfTypes() => new() { "bfloat16", "float16" };

    /// <summary>Unit roundoff: half the spacing of the significand, 2⁻⁸ for bfloat16 (8 significant bits), 2⁻¹¹ for float16 (11).</summary>
    static double U(ScalarType t) => t == ScalarType.BFloat16 ? Math.Pow(2, -8) : Math.Pow(2, -11);

    /// <summary>Inputs of many scales (rows from ≈ 0.05 to ≈ 20), rounded to <paramref name="t"/>.</summary>
    static Tensor Input(ScalarType t, params long[] shape)
    {
        var rng = new torch.Generator(11);
        var scale = torch.exp(torch.rand([shape[0], 1], generator: rng) * 6 - 3);
        var x = torch.randn(shape, generator: rng);
        return (shape.Length == 2 ? x * scale : x).to(t);
    }

    [Theory]
    [MemberData(nameof(HalfTypes))]
    public void RmsNorm_of_a_16_bit_input_is_within_two_roundings_of_float64(string dtype)
    {
        var t = ModelDtypes.Of(dtype);
        const int dim = 64;
        const double eps = 1e-6;
        var x = Input(t, 256, dim);
        var norm = new RmsNorm(dim, eps, t);
        using var _ = torch.no_grad();
        var gain = (1 + torch.randn([dim], generator: new torch.Generator(5)) * 0.1).to(t);
        norm.named_parameters().Single().parameter.copy_(gain);
        var y = norm.forward(x);
        Assert.Equal(t, y.dtype);

        var x64 = x.to(ScalarType.Float64);
        var exact = x64 / torch.sqrt(x64.square().mean([-1L], keepdim: true) + eps) * gain.to(ScalarType.Float64);
        // y = round(round(x·r)·g) with r from float32: |y − exact| ≤ (2u + u²)|exact| plus float32's 2⁻²³-scale error, and
        // at most half a subnormal step (float16: 2⁻²⁵) where the value is that small.
        var bound = (2 * U(t) + Math.Pow(2, -20)) * exact.abs() + Math.Pow(2, -25);
        var excess = ((y.to(ScalarType.Float64) - exact).abs() - bound).max().item<double>();
        Assert.True(excess <= 0, $"{dtype}: an element is {excess:E2} beyond two roundings of float64");
    }

    [Theory]
    [MemberData(nameof(HalfTypes))]
    public void The_rotation_of_a_16_bit_input_is_one_rounding_of_float64(string dtype)
    {
        var t = ModelDtypes.Of(dtype);
        const int headDim = 16, seq = 64;
        var rotary = new Rotary(headDim, seq, 10000.0);
        var x = Input(t, 2, 2, seq, headDim);
        using var _ = torch.no_grad();
        var y = rotary.Apply(x);
        Assert.Equal(t, y.dtype);

        var x64 = x.to(ScalarType.Float64);
        var exact = rotary.Apply(x64);                                                   // float64 tables and arithmetic
        // y = round(x·cos + rotate_half(x)·sin) from float32 tables: |y − exact| ≤ u|exact| plus float32's error on the two
        // terms (which may cancel: that is where a 16-bit rotation, rounding each term and the tables, fails).
        var halves = x64.chunk(2, -1);
        var terms = x64.abs() + torch.cat([halves[1], halves[0]], -1).abs();
        var bound = U(t) * exact.abs() + Math.Pow(2, -21) * terms + Math.Pow(2, -25);
        var excess = ((y.to(ScalarType.Float64) - exact).abs() - bound).max().item<double>();
        Assert.True(excess <= 0, $"{dtype}: an element is {excess:E2} beyond one rounding of float64");
    }
}
