using SparseMemory.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Memory;

/// <summary>
/// The value table shared by every memory layer of a model (Berges et al. 2024). The model owns and
/// registers it once; memory layers receive this holder, which is deliberately not a module, so the
/// table appears once in the state dict (as <c>memory_values.weight</c>).
/// </summary>
public sealed class SharedValues(EmbeddingBag table)
{
    /// <summary>The EmbeddingBag (sum mode, per-sample weights) holding S × Dv values.</summary>
    public EmbeddingBag Table { get; } = table;
    /// <summary>The [S, Dv] value parameter.</summary>
    public Parameter Weight => Table.weight!;
}

/// <summary>
/// Product-key memory layer with Memory+ gating (Lample et al. 2019; Berges et al. 2024), replacing the FFN of a block.
/// Letters: BT tokens, D model dim, H heads, N sub-keys per half, S = N², K top-k, Dk key dim, Dv value dim.
/// <para>Per token x: q = Wq x + b (H·Dk); per head, split q into halves; score each half against its N sub-keys;
/// top-K per half; combine the K² candidates (score a¹+a², id i¹·N+i²); top-K of those (exact: the true top-K over
/// all S slots is always among them); softmax per head; y = Σ_h Σ_j w_hj V[id_hj] (heads summed, weights add up to H);
/// out = W2 (y ⊙ silu(W1 x + b1)) + b2.</para>
/// </summary>
public sealed class ProductKeyMemory : nn.Module<Tensor, Tensor>
{
    readonly int _heads, _numKeys, _topK, _keyDim, _valueDim;
    readonly bool _gated;
    readonly int _layerIndex;
    readonly SharedValues _values;
    readonly CandidatePairs _pairs;

    // State-dict names: query.{weight,bias}, keys, gate_proj.{weight,bias}, out_proj.{weight,bias}.
    readonly Linear query;
    readonly Parameter keys;           // (2·H·N, Dk/2), viewed as (H, 2, N, Dk/2)
    readonly Linear? gate_proj;        // W1: D → Dv (Memory+ gate)
    readonly Linear out_proj;          // W2: Dv → D

    /// <summary>Where reads are reported; set per forward by the owning model.</summary>
    internal MemoryAccessLog? AccessLog { get; set; }
    /// <summary>Positions that are real tokens ([B, T] bool), reported with the reads.</summary>
    internal Tensor? ValidMask { get; set; }
    /// <summary>Read the values outside autograd and expose the read as a grad-requiring leaf (see <see cref="MemoryAccess.Read"/>).</summary>
    internal bool CaptureReads { get; set; }
    /// <summary>The read's backward by the managed pass (<see cref="FastPaths.ManagedValueBackward"/>); set by the owning model.</summary>
    internal bool ManagedValueBackward { get; set; } = FastPaths.On.ManagedValueBackward;

    /// <summary>Builds the layer with the initialisations of the Memory+ reference (docs/method.md#memory-plus-initialisation).</summary>
    public ProductKeyMemory(int layerIndex, int dim, MemoryConfig cfg, SharedValues values) : base(nameof(ProductKeyMemory))
    {
        _layerIndex = layerIndex;
        _heads = cfg.Heads; _numKeys = cfg.NumKeys; _topK = cfg.TopK; _keyDim = cfg.KeyDim;
        _valueDim = cfg.ResolvedValueDim(dim); _gated = cfg.Gated;
        _values = values;
        _pairs = new CandidatePairs(_topK);
        query = nn.Linear(dim, _heads * _keyDim, hasBias: true);
        keys = nn.Parameter(torch.empty(2L * _heads * _numKeys, _keyDim / 2));
        gate_proj = _gated ? nn.Linear(dim, _valueDim, hasBias: true) : null;
        out_proj = nn.Linear(_valueDim, dim, hasBias: true);
        RegisterComponents();
        ResetParameters(dim);
    }

    void ResetParameters(int dim)
    {
        using var _ = torch.no_grad();
        double bound = 1.0 / Math.Sqrt(_keyDim);
        nn.init.uniform_(keys, -bound, bound);
        nn.init.xavier_uniform_(query.weight!);
        query.bias!.zero_();
        double std = 1.0 / Math.Sqrt(dim);
        if (gate_proj is not null) { nn.init.normal_(gate_proj.weight!, 0, std); gate_proj.bias!.zero_(); }
        nn.init.normal_(out_proj.weight!, 0, std);
        out_proj.bias!.zero_();
    }

    /// <summary>The output projection's weight W2, [D, Dv].</summary>
    public Parameter OutProjectionWeight => out_proj.weight!;

    /// <summary>Slots per half-key set (N).</summary>
    public int NumKeys => _numKeys;

    /// <summary>The dtype of the layer's parameters (float32 unless the model was converted): what its input must be.</summary>
    public ScalarType ParameterDtype => keys.dtype;

    /// <summary>
    /// Product-key search. <paramref name="x"/> is [BT, D]; returns slot ids [BT, H, K] (int64) and raw scores [BT, H, K],
    /// sorted by score descending per head. The selection runs without autograd (managed code on the CPU, see
    /// <see cref="ProductKeyTopK"/>; libtorch elsewhere); the scores are then gathered from the half scores, so their
    /// gradient reaches the query and the keys exactly as through topk.
    /// </summary>
    public (Tensor Indices, Tensor Scores) Search(Tensor x) => Search(x, allowManaged: true);

    /// <summary>The search with the libtorch selection on every device: the reference of the managed fast path.</summary>
    internal (Tensor Indices, Tensor Scores) SearchWithTorch(Tensor x) => Search(x, allowManaged: false);

    (Tensor Indices, Tensor Scores) Search(Tensor x, bool allowManaged)
    {
        long bt = x.shape[0];
        int half = _keyDim / 2;
        // Half scores in (head, half) planes, the layout a batched matrix product writes: (H·2, BT, N). The selection
        // reads the planes as they are, and the selected scores are gathered from them in that layout, so neither the
        // forward nor the backward copies a (BT, H, 2, N) tensor between layouts; at N = 1024 one is 134 MB a step.
        var q = query.forward(x).view(bt, _heads * 2, half).transpose(0, 1);     // (H·2, BT, Dk/2)
        var k = keys.view(_heads * 2, _numKeys, half);                            // (H·2, N, Dk/2)
        var s = q.bmm(k.transpose(1, 2));                                         // (H·2, BT, N) half scores
        (Tensor First, Tensor Second) sub;                                        // (BT, H, K) each
        using (torch.no_grad())
        {
            var plain = s.detach();
            sub = (allowManaged && ProductKeyTopK.Supports(plain) ? ProductKeyTopK.SelectPlanar(plain, _heads, _topK) : null)
                  ?? SelectWithTorch(plain.view(_heads, 2, bt, _numKeys).permute(2, 0, 1, 3));
        }
        var at = torch.stack([sub.First, sub.Second], 2).permute(1, 2, 0, 3).reshape(_heads * 2, bt, _topK);   // (H·2, BT, K)
        var scores = s.gather(2, at).view(_heads, 2, bt, _topK).sum(1).permute(1, 0, 2).contiguous();         // (BT, H, K)
        return (sub.First * _numKeys + sub.Second, scores);
    }

    /// <summary>libtorch selection: half-key indices [BT, H, K] of the K best pairs, best first.</summary>
    (Tensor First, Tensor Second) SelectWithTorch(Tensor s)
    {
        var (a1, i1) = s.select(2, 0).topk(_topK, dim: -1);                        // (BT, H, K)
        var (a2, i2) = s.select(2, 1).topk(_topK, dim: -1);
        // Both halves come back sorted, so pair (u, v) is beaten by every (u', v') with u' ≤ u, v' ≤ v: only pairs with
        // (u+1)(v+1) ≤ K can be in the top-K. That keeps the search exact while scoring ~K·ln K candidates, not K².
        var (pu, pv) = _pairs.For(s.device);
        var cand = a1.index_select(-1, pu) + a2.index_select(-1, pv);             // (BT, H, P)
        var (_, pos) = cand.topk(_topK, dim: -1);                                  // (BT, H, K)
        return (i1.gather(-1, pu.index_select(0, pos.view(-1)).view(pos.shape)),
                i2.gather(-1, pv.index_select(0, pos.view(-1)).view(pos.shape)));
    }

    /// <summary>x: [B, T, D] → [B, T, D].</summary>
    public override Tensor forward(Tensor x)
    {
        long b = x.shape[0], t = x.shape[1], d = x.shape[2];
        var flat = x.reshape(b * t, d);                                           // (BT, D)
        var (ids, scores) = Search(flat);                                          // (BT, H, K)
        // Per-head softmax in at least fp32 (the reference computes it in fp32 under bf16 training).
        var w = scores.dtype is ScalarType.Float16 or ScalarType.BFloat16
            ? F.softmax(scores.to(ScalarType.Float32), dim: -1).to(scores.dtype)
            : F.softmax(scores, dim: -1);
        var bagIds = ids.view(b * t, _heads * _topK);                              // (BT, H·K)
        var bagW = w.view(b * t, _heads * _topK);
        Tensor y;                                                                  // (BT, Dv)
        Tensor? read = null;
        if (CaptureReads)
        {
            // Sparse finetuning and lazy value updates: no autograd path into the [S, Dv] table (it is frozen to
            // autograd), so no dense table gradient is ever built; ∂loss/∂y is kept instead (the leaf `read`) and the
            // chosen rows' gradient is formed from it (ValueRowGradients). The read weights stay in the graph when they
            // require grad, so keys and query still learn (docs/pitfalls.md#keys-and-query-receive-gradient).
            if (_values.Weight.requires_grad)
                throw new InvalidOperationException("capturing value reads needs the value table frozen to autograd (requires_grad = false): the training method updates it from the captured reads");
            y = _values.Table.forward(bagIds, null, bagW);
            if (y.requires_grad) y = y + (read = torch.zeros_like(y).requires_grad_(true));
            else read = y.requires_grad_(true);
        }
        else if (ManagedValueBackward && ValueRead.Supports(_values.Weight, bagW)) y = ValueRead.Apply(_values.Table, bagIds, bagW);
        else y = _values.Table.forward(bagIds, null, bagW);
        var gate = gate_proj is null ? null : F.silu(gate_proj.forward(flat));     // (BT, Dv)
        AccessLog?.Record(new MemoryAccess(_layerIndex, bagIds.view(b, t, -1).detach(), bagW.view(b, t, -1).detach(), ValidMask, read,
            gate?.detach().view(b, t, -1)));
        if (gate is not null) y = y * gate;
        return out_proj.forward(y).view(b, t, d);
    }
}

/// <summary>The (u, v) rank pairs with (u+1)(v+1) ≤ K, cached per device (kept out of the state dict).</summary>
internal sealed class CandidatePairs
{
    readonly long[] _u, _v;
    readonly Dictionary<(DeviceType, int), (Tensor U, Tensor V)> _cache = [];

    public CandidatePairs(int k)
    {
        var pairs = (from u in Enumerable.Range(0, k) from v in Enumerable.Range(0, k) where (u + 1) * (v + 1) <= k select (u, v)).ToArray();
        _u = pairs.Select(p => (long)p.u).ToArray();
        _v = pairs.Select(p => (long)p.v).ToArray();
    }

    public (Tensor U, Tensor V) For(Device device)
    {
        var key = (device.type, device.index);
        if (!_cache.TryGetValue(key, out var t))
        {
            t = (torch.tensor(_u, device: device).DetachFromDisposeScope(), torch.tensor(_v, device: device).DetachFromDisposeScope());
            _cache[key] = t;
        }
        return t;
    }
}
