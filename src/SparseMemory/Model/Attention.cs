using SparseMemory.Config;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Model;

/// <summary>
/// Causal multi-head self-attention with rotary positions (rotate-half convention). With grouped-query attention
/// (<see cref="ModelConfig.KvHeads"/> &lt; heads) query head h reads key/value head ⌊h / (heads / kv_heads)⌋. In a
/// 16-bit model the scores and their softmax are computed in float32 (<see cref="Scores"/>).
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
        var dtype = ModelDtypes.Of(cfg.Dtype);
        wq = new Projection(cfg.Dim, _heads * _headDim, cfg.InitStd, cfg.QkvBias, dtype);
        wk = new Projection(cfg.Dim, _kvHeads * _headDim, cfg.InitStd, cfg.QkvBias, dtype);
        wv = new Projection(cfg.Dim, _kvHeads * _headDim, cfg.InitStd, cfg.QkvBias, dtype);
        wo = new Projection(_heads * _headDim, cfg.Dim, outStd, dtype: dtype);
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
        var y = Scores(q, k, v, null, causal: true);                             // (B, H, T, hd)
        return wo.forward(y.transpose(1, 2).reshape(b, t, _heads * _headDim));
    }

    /// <summary>
    /// softmax(q·kᵀ / √hd [+ mask]) · v with the key/value heads shared (<see cref="Shared"/>). Inputs of a 16-bit model
    /// are widened to float32 first and the result cast back, so scores and softmax never round to 8 or 11 bits.
    /// </summary>
    Tensor Scores(Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal)
    {
        var dtype = q.dtype;
        if (ModelDtypes.IsHalf(dtype)) (q, k, v) = (q.to(ScalarType.Float32), k.to(ScalarType.Float32), v.to(ScalarType.Float32));
        var y = mask is not null
            ? F.scaled_dot_product_attention(q, Shared(k), Shared(v), attn_mask: mask)
            : F.scaled_dot_product_attention(q, Shared(k), Shared(v), is_casual: causal);
        return y.dtype == dtype ? y : y.to(dtype);
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
        var y = Scores(q, kv.Keys.narrow(2, 0, total), kv.Values.narrow(2, 0, total), step.Mask, step.Causal);   // (B, H, Tn, hd)
        return wo.forward(y.transpose(1, 2).reshape(b, t, _heads * _headDim));
    }
}

/// <summary>
/// Rotary position tables, computed once per (device, dtype) and cached outside the state dict, in float64 then cast;
/// with <paramref name="scaling"/> the frequencies are rescaled first (<see cref="RopeScalingConfig"/>). A 16-bit
/// input is rotated in float32 with float32 tables and cast back (<see cref="ModelDtypes.ComputeType"/>).
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
        var (cos, sin) = Tables(x.device, ModelDtypes.ComputeType(x.dtype));
        return Rotate(x, cos.narrow(0, 0, t), sin.narrow(0, 0, t));
    }

    /// <summary>
    /// x·cos + rotate_half(x)·sin; <paramref name="cos"/> and <paramref name="sin"/> broadcast against x. When the tables
    /// are wider than x (float32 tables, 16-bit x) the rotation is computed in the tables' dtype and cast back.
    /// </summary>
    internal static Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        if (x.dtype != cos.dtype) return Rotate(x.to(cos.dtype), cos, sin).to(x.dtype);
        var halves = x.chunk(2, -1);
        var rotated = torch.cat([-halves[1], halves[0]], -1);
        return x * cos + rotated * sin;
    }

    /// <summary>Tables for positions [start, start + t), shared by the whole batch: ([t, hd], [t, hd]), in the compute dtype of <paramref name="dtype"/>.</summary>
    internal (Tensor Cos, Tensor Sin) Range(long start, long t, Device device, ScalarType dtype)
    {
        if (start < 0 || start + t > maxSeqLen)
            throw new ArgumentException($"positions {start}…{start + t - 1} exceed model.max_seq_len {maxSeqLen}");
        var (cos, sin) = Tables(device, ModelDtypes.ComputeType(dtype));
        return (cos.narrow(0, start, t), sin.narrow(0, start, t));
    }

    /// <summary>Tables at per-row positions [B, T] (int64, each in [0, max_seq_len)): ([B, 1, T, hd], [B, 1, T, hd]), in the compute dtype of <paramref name="dtype"/>.</summary>
    internal (Tensor Cos, Tensor Sin) At(Tensor positions, ScalarType dtype)
    {
        var (cos, sin) = Tables(positions.device, ModelDtypes.ComputeType(dtype));
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
