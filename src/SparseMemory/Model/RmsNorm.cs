using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SparseMemory.Model;

/// <summary>RMSNorm: x / sqrt(mean(x²) + ε) · g, with a learned gain g initialised to 1.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    readonly double _eps;
    readonly Parameter weight;

    /// <summary>Creates a norm over the last dimension of size <paramref name="dim"/>.</summary>
    public RmsNorm(int dim, double eps) : base(nameof(RmsNorm))
    {
        _eps = eps;
        weight = nn.Parameter(torch.ones(dim));
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x) =>
        x * torch.rsqrt(x.pow(2).mean([-1L], keepdim: true) + _eps) * weight;
}
