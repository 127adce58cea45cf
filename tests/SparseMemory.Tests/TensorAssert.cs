using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests;

/// <summary>Bitwise tensor comparisons (torch.equal returns a tensor in TorchSharp, see docs/pitfalls.md#torch-equal-returns-a-tensor).</summary>
internal static class TensorAssert
{
    public static bool Same(Tensor a, Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.cpu().contiguous().bytes.SequenceEqual(b.cpu().contiguous().bytes);

    public static void Identical(Tensor expected, Tensor actual, string what = "tensor")
    {
        if (Same(expected, actual)) return;
        string diff = expected.shape.SequenceEqual(actual.shape)
            ? $"max |diff| {(expected.to(ScalarType.Float64) - actual.to(ScalarType.Float64)).abs().max().item<double>():G4}"
            : $"shapes [{string.Join(",", expected.shape)}] vs [{string.Join(",", actual.shape)}]";
        Assert.Fail($"{what} differs: {diff}");
    }
}
