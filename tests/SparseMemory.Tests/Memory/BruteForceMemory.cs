using SparseMemory.Memory;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Tests.Memory;

/// <summary>
/// Slow reference for the product-key memory: scores all S = N² slots per head directly (no product-key search, no
/// EmbeddingBag), takes the top-K by a full sort, softmaxes and sums values by gather. Differentiable, so autograd
/// through it gives reference gradients. Reads the layer's parameters by state-dict name.
/// </summary>
internal static class BruteForceMemory
{
    public static (Tensor Out, Tensor Ids) Forward(ProductKeyMemory layer, Tensor values, Tensor x, int heads, int numKeys, int topK, int keyDim, bool gated)
    {
        var p = layer.named_parameters().ToDictionary(kv => kv.name, kv => (Tensor)kv.parameter);
        long b = x.shape[0], t = x.shape[1], d = x.shape[2];
        var flat = x.reshape(b * t, d);
        int half = keyDim / 2;
        var q = F.linear(flat, p["query.weight"], p["query.bias"]).view(b * t, heads, 2, half);
        var k = p["keys"].view(heads, 2, numKeys, half);
        var outs = new List<Tensor>();
        var idsAll = new List<Tensor>();
        var y = torch.zeros(b * t, values.shape[1], values.dtype);
        for (int h = 0; h < heads; h++)
        {
            var s1 = q.select(1, h).select(1, 0).matmul(k[h, 0].t());       // (BT, N)
            var s2 = q.select(1, h).select(1, 1).matmul(k[h, 1].t());       // (BT, N)
            var full = (s1.unsqueeze(2) + s2.unsqueeze(1)).reshape(b * t, (long)numKeys * numKeys);  // (BT, S): slot i·N + j
            var (sorted, order) = full.sort(-1, descending: true);
            var sc = sorted.narrow(1, 0, topK);
            var ids = order.narrow(1, 0, topK);
            var w = F.softmax(sc, -1);                                       // (BT, K)
            var v = values.index_select(0, ids.reshape(-1)).view(b * t, topK, -1);
            y = y + (w.unsqueeze(-1) * v).sum(1);
            idsAll.Add(ids);
        }
        if (gated) y = y * F.silu(F.linear(flat, p["gate_proj.weight"], p["gate_proj.bias"]));
        var o = F.linear(y, p["out_proj.weight"], p["out_proj.bias"]).view(b, t, d);
        return (o, torch.stack(idsAll, 1));                                  // ids (BT, H, K)
    }
}
