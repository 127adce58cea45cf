using SparseMemory.Config;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Model;

/// <summary>SwiGLU feed-forward: w2(silu(w1 x) ⊙ w3 x).</summary>
public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    readonly Projection w1, w2, w3;

    /// <summary>Creates the FFN; <paramref name="outStd"/> initialises w2.</summary>
    public FeedForward(ModelConfig cfg, double outStd) : base(nameof(FeedForward))
    {
        var dtype = ModelDtypes.Of(cfg.Dtype);
        w1 = new Projection(cfg.Dim, cfg.FfnHidden, cfg.InitStd, dtype: dtype);
        w2 = new Projection(cfg.FfnHidden, cfg.Dim, outStd, dtype: dtype);
        w3 = new Projection(cfg.Dim, cfg.FfnHidden, cfg.InitStd, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>The three projections, by state-dict name.</summary>
    public IEnumerable<(string Name, Projection Projection)> Projections => [("w1", w1), ("w2", w2), ("w3", w3)];

    /// <inheritdoc/>
    public override Tensor forward(Tensor x) => w2.forward(F.silu(w1.forward(x)) * w3.forward(x));
}
