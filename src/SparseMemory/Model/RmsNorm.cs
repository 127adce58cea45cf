using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SparseMemory.Model;

/// <summary>
/// RMSNorm: x / sqrt(mean(x²) + ε) · g, with a learned gain g initialised to 1. A 16-bit input is normalised in float32
/// and cast back before the gain, as the Llama / Mistral / Qwen2 reference code does.
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    readonly double _eps;
    readonly Parameter weight;

    /// <summary>Creates a norm over the last dimension of size <paramref name="dim"/>, its gain in <paramref name="dtype"/>.</summary>
    public RmsNorm(int dim, double eps, ScalarType dtype = ScalarType.Float32) : base(nameof(RmsNorm))
    {
        _eps = eps;
        weight = nn.Parameter(torch.ones(dim, dtype));
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        if (!ModelDtypes.IsHalf(x.dtype)) return x * torch.rsqrt(x.pow(2).mean([-1L], keepdim: true) + _eps) * weight;
        var wide = x.to(ScalarType.Float32);
        return (wide * torch.rsqrt(wide.pow(2).mean([-1L], keepdim: true) + _eps)).to(x.dtype) * weight;
    }
}
