using SparseMemory.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Model;

/// <summary>
/// The training loss from final hidden states: mean next-token cross-entropy of the logits h Wᵀ, targets &lt; 0 ignored
/// (docs/architecture.md#a-cheaper-training-step).
/// </summary>
public static class OutputLoss
{
    /// <summary>Rows per chunk: 512 × V logits (8 MB at V = 4,096 in float32) stay in cache while they are used.</summary>
    public const int DefaultChunkRows = 512;

    /// <summary>
    /// The same value and gradients as <c>cross_entropy(h Wᵀ, targets, ignore_index: −1)</c>, without ever holding the
    /// [tokens, V] logits or their gradient: rows with a target are taken in chunks; each chunk's logits give its loss
    /// terms and, when backward will need them, at once its softmax − one-hot, from which the chunk's gradient with
    /// respect to h (∂/∂h = g W) and its share of the gradient with respect to W (Σ gᵀ h) are formed, so the logits die
    /// with the chunk. Backward is attached without a custom autograd function: the result is
    /// <c>s − s.detach() + loss</c> with s = Σ h ⊙ G_h + Σ W ⊙ G_W, whose value is the loss and whose gradient is exactly
    /// (G_h, G_W), scaled by whatever gradient reaches the loss (docs/pitfalls.md#gradient-without-custom-autograd).
    /// </summary>
    /// <param name="hidden">[…, D], the final-norm hidden states.</param>
    /// <param name="weight">[V, D], the output projection (the token embedding when tied).</param>
    /// <param name="targets">[…] int64 with the shape of hidden's leading dimensions; &lt; 0 is ignored.</param>
    /// <param name="chunkRows">Rows per chunk.</param>
    public static Tensor Chunked(Tensor hidden, Tensor weight, Tensor targets, int chunkRows = DefaultChunkRows)
    {
        if (chunkRows <= 0) throw new ArgumentException($"chunkRows is {chunkRows}; it must be ≥ 1");
        long d = hidden.shape[^1];
        var h = hidden.reshape(-1, d);
        var t = targets.reshape(-1);
        if (h.shape[0] != t.shape[0]) throw new ArgumentException($"{h.shape[0]} hidden rows for {t.shape[0]} targets");
        var rows = t.ge(0).nonzero().view(-1);                                  // positions that count
        long n = rows.shape[0];
        bool all = n == t.shape[0];
        var hv = all ? h : h.index_select(0, rows);                             // (n, D)
        var tv = all ? t : t.index_select(0, rows);                             // (n)
        bool gradH = torch.is_grad_enabled() && hv.requires_grad;
        bool gradW = torch.is_grad_enabled() && weight.requires_grad;
        Tensor total;
        Tensor? gH = null, gW = null;
        using (torch.no_grad())
        {
            var hd = hv.detach();
            var wd = weight.detach();
            var wt = wd.t();
            total = torch.zeros([], hd.dtype, hd.device);
            if (gradH) gH = torch.empty_like(hd);
            if (gradW) gW = torch.zeros_like(wd);
            double scale = 1.0 / n;
            for (long s = 0; s < n; s += chunkRows)
            {
                long c = Math.Min(chunkRows, n - s);
                var hc = hd.narrow(0, s, c);
                var tc = tv.narrow(0, s, c).unsqueeze(1);                       // (c, 1)
                var logits = torch.mm(hc, wt);                                  // (c, V)
                var lse = logits.logsumexp(1, keepdim: true);                   // (c, 1)
                total.add_((lse - logits.gather(1, tc)).sum());
                if (!gradH && !gradW) continue;
                // g = (softmax − one-hot) / n, in place in the logits' buffer
                var g = logits.sub_(lse).exp_();
                g.scatter_(1, tc, g.gather(1, tc) - 1.0).mul_(scale);
                if (gradH) gH!.narrow(0, s, c).copy_(torch.mm(g, wd));
                if (gradW) gW!.addmm_(g.t(), hc);
            }
        }
        var loss = total / n;                                                   // no target at all: 0/0 = NaN, as cross_entropy
        if (!gradH && !gradW) return loss;
        Tensor? s1 = gradH ? (hv * gH!).sum() : null;
        Tensor? s2 = gradW ? (weight * gW!).sum() : null;
        var surrogate = s1 is null ? s2! : s2 is null ? s1 : s1 + s2;
        return surrogate - surrogate.detach() + loss;
    }
}
