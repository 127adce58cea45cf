using SparseMemory.Config;
using SparseMemory.Memory;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Model;

/// <summary>
/// Pre-norm block: x + attn(norm(x)), then x + ffn(norm(x)), where ffn is a SwiGLU FFN or a product-key memory, or
/// with a parallel memory (<see cref="MemoryConfig.Parallel"/>, retrofitted models) x + ffn(h) + memory(h). The memory
/// is float32 in every model; in a 16-bit model it reads h widened to float32 and its output is cast back.
/// </summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor>
{
    readonly RmsNorm attention_norm;
    readonly Attention attention;
    readonly RmsNorm ffn_norm;
    readonly FeedForward? feed_forward;
    readonly ProductKeyMemory? memory;

    /// <summary>
    /// Builds block <paramref name="index"/>; a memory layer replaces the FFN when <paramref name="values"/> is given,
    /// or runs beside it when the memory is parallel.
    /// </summary>
    public TransformerBlock(int index, ModelConfig cfg, Rotary rotary, SharedValues? values) : base(nameof(TransformerBlock))
    {
        double outStd = cfg.InitStd / Math.Sqrt(2.0 * cfg.Layers);
        var dtype = ModelDtypes.Of(cfg.Dtype);
        attention_norm = new RmsNorm(cfg.Dim, cfg.NormEps, dtype);
        attention = new Attention(cfg, rotary, outStd);
        ffn_norm = new RmsNorm(cfg.Dim, cfg.NormEps, dtype);
        if (values is not null) memory = new ProductKeyMemory(index, cfg.Dim, cfg.Memory!, values);
        if (values is null || cfg.Memory!.Parallel) feed_forward = new FeedForward(cfg, outStd);
        RegisterComponents();
    }

    /// <summary>The block's attention.</summary>
    public Attention Attention => attention;
    /// <summary>The dense FFN, or null in a memory block whose memory replaces it.</summary>
    public FeedForward? FeedForward => feed_forward;
    /// <summary>The memory layer, or null in a dense block.</summary>
    public ProductKeyMemory? Memory => memory;

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        x = x + attention.forward(attention_norm.forward(x));
        return Mix(x, ffn_norm.forward(x));
    }

    /// <summary>
    /// The residual sum after the FFN norm. A parallel memory is added last, (x + ffn(h)) + memory(h), so a memory whose
    /// output is exactly zero (a fresh retrofit) leaves the block's output bit for bit as without it.
    /// </summary>
    Tensor Mix(Tensor x, Tensor h)
    {
        if (memory is null) return x + feed_forward!.forward(h);
        if (feed_forward is null) return x + Remember(h);
        return x + feed_forward.forward(h) + Remember(h);
    }

    /// <summary>The memory's output for <paramref name="h"/>, computed in the memory's dtype and returned in h's.</summary>
    Tensor Remember(Tensor h)
    {
        var own = memory!.ParameterDtype;
        return h.dtype == own ? memory.forward(h) : memory.forward(h.to(own)).to(h.dtype);
    }

    /// <summary>
    /// <see cref="forward"/> on the next columns only, attention through the cache. The FFN and the memory layer are
    /// position-wise, so running them on the new columns alone is exact.
    /// </summary>
    internal Tensor ForwardCached(Tensor x, DecodeStep step, LayerKv kv)
    {
        x = x + attention.ForwardCached(attention_norm.forward(x), step, kv);
        return Mix(x, ffn_norm.forward(x));
    }
}
