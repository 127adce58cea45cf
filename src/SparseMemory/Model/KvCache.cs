using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Model;

/// <summary>One block's cached attention keys and values, [B, H, capacity, hd] each (keys already rotated).</summary>
internal sealed record LayerKv(Tensor Keys, Tensor Values);

/// <summary>
/// What every attention layer needs for one incremental step: the rotary tables of the new columns (broadcastable to
/// [B, H, Tn, hd]), the first new column, and either a boolean attention mask [B, 1, Tn, L] (true = attend) or, when
/// none is needed, whether the step is causal (a prefill from an empty cache without padding).
/// </summary>
internal sealed record DecodeStep(Tensor Cos, Tensor Sin, long Start, Tensor? Mask, bool Causal);

/// <summary>
/// The attention keys and values of a batch being decoded, one [B, H, capacity, hd] buffer pair per block, filled
/// column by column by <see cref="LanguageModel.ForwardNext"/>. Inference only (the buffers are written in place).
/// <para>Rows may be left-padded: row r's first <c>leftPadding[r]</c> columns are padding. Its real tokens then sit at
/// rotary positions 0, 1, … (column − padding), padding columns are never attended to by real tokens, and each pad
/// column attends only to itself (so nothing is a softmax over an empty set). A left-padded row therefore computes what
/// it would compute alone, up to floating-point summation order (docs/architecture.md#generation-with-a-kv-cache).</para>
/// <para>The buffers are allocated at the first step, on that step's device and dtype, outside any dispose scope;
/// dispose the cache to free them.</para>
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly long[] _pad;
    readonly long _maxPad;
    LayerKv[]? _layers;
    Tensor? _padColumn;         // [B, 1] int64: left padding per row
    Tensor? _realKey;           // [B, capacity] bool: column is a real token (only when some row is padded)

    /// <summary>A cache for <paramref name="batch"/> rows and at most <paramref name="capacity"/> columns.</summary>
    public KvCache(int batch, int capacity, IReadOnlyList<int>? leftPadding = null)
    {
        if (batch <= 0 || capacity <= 0) throw new ArgumentException($"batch {batch} and capacity {capacity} must be ≥ 1");
        if (leftPadding is not null && leftPadding.Count != batch)
            throw new ArgumentException($"{leftPadding.Count} padding counts for {batch} rows");
        _pad = leftPadding?.Select(p => p >= 0 && p < capacity ? (long)p
            : throw new ArgumentException($"left padding {p} outside [0, {capacity})")).ToArray() ?? new long[batch];
        _maxPad = _pad.Max();
        Batch = batch;
        Capacity = capacity;
    }

    /// <summary>Rows.</summary>
    public int Batch { get; }
    /// <summary>Columns the buffers hold.</summary>
    public int Capacity { get; }
    /// <summary>Columns filled so far.</summary>
    public int Length { get; private set; }
    /// <summary>Rotary position of the next column of the row with the least padding (the longest row).</summary>
    public long NextPosition => Length - _pad.Min();

    /// <summary>
    /// Prepares a step of <paramref name="newColumns"/> columns for a model with <paramref name="layers"/> blocks of
    /// <paramref name="heads"/> × <paramref name="headDim"/> on <paramref name="device"/>/<paramref name="dtype"/>.
    /// </summary>
    internal DecodeStep Begin(long newColumns, Rotary rotary, int layers, int heads, int headDim, Device device, ScalarType dtype)
    {
        if (newColumns <= 0) throw new ArgumentException("a step needs at least one new column");
        if (Length + newColumns > Capacity)
            throw new ArgumentException($"{Length} + {newColumns} columns exceed the cache capacity {Capacity}");
        if (Length + newColumns - _pad.Min() > rotary.MaxSeqLen)
            throw new ArgumentException($"a row would reach position {Length + newColumns - _pad.Min() - 1}; model.max_seq_len is {rotary.MaxSeqLen}");
        if (_layers is null)
        {
            _layers = new LayerKv[layers];
            for (int i = 0; i < layers; i++)
                _layers[i] = new LayerKv(torch.empty([Batch, heads, Capacity, headDim], dtype, device).DetachFromDisposeScope(),
                    torch.empty([Batch, heads, Capacity, headDim], dtype, device).DetachFromDisposeScope());
            if (_maxPad > 0)
            {
                _padColumn = torch.tensor(_pad, [Batch, 1], device: device).DetachFromDisposeScope();
                _realKey = torch.arange(Capacity, device: device).unsqueeze(0).ge(_padColumn).DetachFromDisposeScope();
            }
        }
        else if (_layers[0].Keys.dtype != dtype || _layers[0].Keys.device_type != device.type || _layers[0].Keys.device_index != device.index)
            throw new ArgumentException($"the cache holds {_layers[0].Keys.dtype} on {_layers[0].Keys.device}; this step is {dtype} on {device}");

        long start = Length;
        if (_padColumn is null)
        {
            var (cos, sin) = rotary.Range(start, newColumns, device, dtype);
            // One new column attends to every cached one; a prefill from empty is plain causal; else mask explicitly.
            Tensor? mask = newColumns == 1 || start == 0 ? null : CausalMask(start, newColumns, device).unsqueeze(0).unsqueeze(0);
            return new DecodeStep(cos, sin, start, mask, Causal: start == 0 && newColumns > 1);
        }
        else
        {
            var columns = torch.arange(start, start + newColumns, device: device);                      // (Tn)
            var positions = (columns.unsqueeze(0) - _padColumn).clamp_min(0);                             // (B, Tn); pads → 0
            var (cos, sin) = rotary.At(positions, dtype);
            long total = start + newColumns;
            var real = _realKey!.narrow(1, 0, total).unsqueeze(1);                                        // (B, 1, L)
            var causal = CausalMask(start, newColumns, device).unsqueeze(0);                              // (1, Tn, L)
            var self = torch.arange(total, device: device).unsqueeze(0).eq(columns.unsqueeze(1)).unsqueeze(0);   // (1, Tn, L)
            var mask = (causal.logical_and(real)).logical_or(self).unsqueeze(1);                         // (B, 1, Tn, L)
            return new DecodeStep(cos, sin, start, mask, Causal: false);
        }
    }

    /// <summary>[Tn, start + Tn] bool: new column i (absolute start + i) may attend to columns ≤ start + i.</summary>
    static Tensor CausalMask(long start, long newColumns, Device device) =>
        torch.arange(start + newColumns, device: device).unsqueeze(0).le(torch.arange(start, start + newColumns, device: device).unsqueeze(1));

    /// <summary>The buffers of block <paramref name="layer"/> (after <see cref="Begin"/>).</summary>
    internal LayerKv Layer(int layer) => _layers![layer];

    /// <summary>Marks the step's columns as filled.</summary>
    internal void Commit(long newColumns) => Length += (int)newColumns;

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_layers is not null)
            foreach (var l in _layers) { l.Keys.Dispose(); l.Values.Dispose(); }
        _layers = null;
        _padColumn?.Dispose();
        _realKey?.Dispose();
        _padColumn = _realKey = null;
    }
}
