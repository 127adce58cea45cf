using SparseMemory.Config;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Model;

/// <summary>
/// Causal multi-head self-attention with rotary positions (rotate-half convention). With grouped-query attention
/// (<see cref="ModelConfig.KvHeads"/> &lt; heads) query head h reads key/value head ⌊h / (heads / kv_heads)⌋.
/// </summary>
public sealed class Attention : nn.Module<Tensor, Tensor>
{
    readonly int _heads, _kvHeads, _headDim;
    readonly Rotary _rotary;
    readonly Projection wq, wk, wv, wo;

    /// <summary>Creates the block's attention; <paramref name="outStd"/> initialises the output projection.</summary>
    public Attention(ModelConfig cfg, Rotary rotary, double outStd) : base(nameof(Attention))
    {
        _heads = cfg.Heads;
        _kvHeads = cfg.ResolvedKvHeads();
        _headDim = cfg.ResolvedHeadDim();
        _rotary = rotary;
        wq = new Projection(cfg.Dim, _heads * _headDim, cfg.InitStd, cfg.QkvBias);
        wk = new Projection(cfg.Dim, _kvHeads * _headDim, cfg.InitStd, cfg.QkvBias);
        wv = new Projection(cfg.Dim, _kvHeads * _headDim, cfg.InitStd, cfg.QkvBias);
        wo = new Projection(_heads * _headDim, cfg.Dim, outStd);
        RegisterComponents();
    }

    /// <summary>The four projections, by state-dict name.</summary>
    public IEnumerable<(string Name, Projection Projection)> Projections =>
        [("wq", wq), ("wk", wk), ("wv", wv), ("wo", wo)];

    /// <summary>x: [B, T, D] → [B, T, D]; causal, so right padding never affects real tokens.</summary>
    public override Tensor forward(Tensor x)
    {
        long b = x.shape[0], t = x.shape[1];
        var q = wq.forward(x).view(b, t, _heads, _headDim).transpose(1, 2);      // (B, H, T, hd)
        var k = wk.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);    // (B, Hkv, T, hd)
        var v = wv.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        (q, k) = (_rotary.Apply(q), _rotary.Apply(k));
        var y = F.scaled_dot_product_attention(q, Shared(k), Shared(v), is_casual: true);   // (B, H, T, hd)
        return wo.forward(y.transpose(1, 2).reshape(b, t, _heads * _headDim));
    }

    /// <summary>Key/value heads [B, Hkv, L, hd] repeated to one per query head [B, H, L, hd]; unchanged without grouping.</summary>
    Tensor Shared(Tensor kv) => _kvHeads == _heads ? kv : kv.repeat_interleave(_heads / _kvHeads, dim: 1);

    /// <summary>Key/value heads (the KV cache holds these).</summary>
    internal int KvHeads => _kvHeads;

    /// <summary>
    /// Incremental attention for decoding (inference only): x [B, Tn, D] are the next Tn columns of the batch in
    /// <paramref name="step"/>; their keys and values are written into <paramref name="kv"/> at columns
    /// [start, start + Tn) and the queries attend to every cached column the step's mask allows. Same maths as
    /// <see cref="forward"/> on the whole prefix (docs/architecture.md#generation-with-a-kv-cache).
    /// </summary>
    internal Tensor ForwardCached(Tensor x, DecodeStep step, LayerKv kv)
    {
        long b = x.shape[0], t = x.shape[1];
        var q = wq.forward(x).view(b, t, _heads, _headDim).transpose(1, 2);      // (B, H, Tn, hd)
        var k = wk.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);    // (B, Hkv, Tn, hd)
        var v = wv.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        q = Rotary.Rotate(q, step.Cos, step.Sin);
        k = Rotary.Rotate(k, step.Cos, step.Sin);
        kv.Keys.narrow(2, step.Start, t).copy_(k);
        kv.Values.narrow(2, step.Start, t).copy_(v);
        long total = step.Start + t;
        var keys = Shared(kv.Keys.narrow(2, 0, total));                            // (B, H, L, hd)
        var values = Shared(kv.Values.narrow(2, 0, total));
        var y = step.Mask is { } mask
            ? F.scaled_dot_product_attention(q, keys, values, attn_mask: mask)
            : F.scaled_dot_product_attention(q, keys, values, is_casual: step.Causal);
        return wo.forward(y.transpose(1, 2).reshape(b, t, _heads * _headDim));
    }
}

/// <summary>
/// Rotary position tables, computed once per (device, dtype) and cached outside the state dict, in float64 then cast;
/// with <paramref name="scaling"/> the frequencies are rescaled first (<see cref="RopeScalingConfig"/>).
/// </summary>
public sealed class Rotary(int headDim, int maxSeqLen, double theta, RopeScalingConfig? scaling = null)
{
    readonly Dictionary<(DeviceType, int, ScalarType), (Tensor Cos, Tensor Sin)> _cache = [];

    /// <summary>Positions the tables cover (model.max_seq_len).</summary>
    public int MaxSeqLen => maxSeqLen;

    /// <summary>Rotates [B, H, T, hd] by position.</summary>
    public Tensor Apply(Tensor x)
    {
        long t = x.shape[2];
        if (t > maxSeqLen) throw new ArgumentException($"sequence length {t} exceeds model.max_seq_len {maxSeqLen}");
        var (cos, sin) = Tables(x.device, x.dtype);
        return Rotate(x, cos.narrow(0, 0, t), sin.narrow(0, 0, t));
    }

    /// <summary>x·cos + rotate_half(x)·sin; <paramref name="cos"/> and <paramref name="sin"/> broadcast against x.</summary>
    internal static Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        var halves = x.chunk(2, -1);
        var rotated = torch.cat([-halves[1], halves[0]], -1);
        return x * cos + rotated * sin;
    }

    /// <summary>Tables for positions [start, start + t), shared by the whole batch: ([t, hd], [t, hd]).</summary>
    internal (Tensor Cos, Tensor Sin) Range(long start, long t, Device device, ScalarType dtype)
    {
        if (start < 0 || start + t > maxSeqLen)
            throw new ArgumentException($"positions {start}…{start + t - 1} exceed model.max_seq_len {maxSeqLen}");
        var (cos, sin) = Tables(device, dtype);
        return (cos.narrow(0, start, t), sin.narrow(0, start, t));
    }

    /// <summary>Tables at per-row positions [B, T] (int64, each in [0, max_seq_len)): ([B, 1, T, hd], [B, 1, T, hd]).</summary>
    internal (Tensor Cos, Tensor Sin) At(Tensor positions, ScalarType dtype)
    {
        var (cos, sin) = Tables(positions.device, dtype);
        long b = positions.shape[0], t = positions.shape[1];
        var flat = positions.reshape(-1);
        return (cos.index_select(0, flat).view(b, 1, t, headDim), sin.index_select(0, flat).view(b, 1, t, headDim));
    }

    (Tensor, Tensor) Tables(Device device, ScalarType dtype)
    {
        var key = (device.type, device.index, dtype);
        if (_cache.TryGetValue(key, out var tables)) return tables;
        using var scope = torch.NewDisposeScope();
        var inv = 1.0 / torch.pow(theta, torch.arange(0, headDim, 2, ScalarType.Float64) / headDim);   // (hd/2)
        if (scaling is not null)
        {
            var f = inv.data<double>().ToArray();
            scaling.Apply(f);
            inv = torch.tensor(f, ScalarType.Float64);
        }
        var ang = torch.outer(torch.arange(maxSeqLen, ScalarType.Float64), inv);                        // (T, hd/2)
        var full = torch.cat([ang, ang], -1);                                                           // (T, hd)
        var cos = full.cos().to(dtype, device).DetachFromDisposeScope();
        var sin = full.sin().to(dtype, device).DetachFromDisposeScope();
        _cache[key] = (cos, sin);
        return (cos, sin);
    }
}
