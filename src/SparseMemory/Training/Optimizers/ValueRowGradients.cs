using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SparseMemory.Memory;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>
/// Gradients of chosen rows of the memory value table, formed from the captured value reads of one forward pass
/// (<see cref="MemoryAccess.Read"/>) without ever building the dense [S, Dv] table gradient
/// (docs/pitfalls.md#no-table-sized-tensors-per-step): ∂L/∂V[r] = Σ over reads of r of w · ∂L/∂y(token), summed over
/// memory layers. The one formation used by sparse memory finetuning (the t selected rows) and by lazy value updates
/// (every row the batch read, <see cref="TouchedRows"/>).
/// <para>On the CPU in float32 the sum is one managed pass over the reads: a row → position table marks the chosen rows,
/// and every read of one of them adds w · ∂L/∂y of its token to that row (SIMD axpy). Elsewhere it is the libtorch
/// formation (<see cref="ComputeWithTorch"/>, also the reference in tests). Reads are summed in (layer, token, head,
/// rank) order, so results are deterministic.</para>
/// </summary>
/// <remarks>Temporaries belong to the caller's dispose scope. Holds per-table index buffers that are allocated once and reset only at the used entries after each call;
/// use one instance per consumer and thread.</remarks>
public sealed class ValueRowGradients : IDisposable
{
    int[]? _table;          // row → position in the chosen rows, −1 elsewhere; all −1 between calls
    Tensor? _rowPosition;   // the same on the values' device for the libtorch formation

    /// <summary>Whether the managed formation applies: CPU float32 values, weights and read gradients.</summary>
    public static bool SupportsManaged(MemoryAccessLog log, Tensor values) =>
        values.device_type == DeviceType.CPU && values.dtype == ScalarType.Float32 &&
        log.Accesses.All(a => a.Read?.grad is { } g && g.dtype == ScalarType.Float32 && g.device_type == DeviceType.CPU &&
                              a.Weights.dtype == ScalarType.Float32 && a.Indices.device_type == DeviceType.CPU);

    /// <summary>
    /// The distinct rows read at real tokens (padding excluded, as in slot counts), ascending: the rows a lazy update
    /// touches. A row read only at padding has a zero gradient and is not touched.
    /// </summary>
    /// <param name="log">The step's memory reads.</param>
    /// <param name="slots">S, rows of the table.</param>
    public long[] TouchedRows(MemoryAccessLog log, long slots)
    {
        if (log.Accesses.Any(a => a.Indices.device_type != DeviceType.CPU || a.ValidMask is { } m && m.device_type != DeviceType.CPU))
            return TouchedRowsWithTorch(log);
        var table = Table(slots);
        var found = new List<long>();
        try
        {
            foreach (var a in log.Accesses)
            {
                if (a.Indices.dtype != ScalarType.Int64) throw new ArgumentException($"slot ids must be int64, got {a.Indices.dtype}");
                var ids = a.Indices.contiguous();
                var valid = a.ValidMask?.to(ScalarType.Bool).contiguous();
                Mark(MemoryMarshal.Cast<byte, long>(ids.bytes), valid is null ? default : MemoryMarshal.Cast<byte, bool>(valid.bytes),
                    valid is not null, (int)a.Indices.shape[^1], table, found);
            }
            var rows = found.ToArray();
            Array.Sort(rows);
            return rows;
        }
        finally
        {
            foreach (long r in found) table[r] = -1;
        }
    }

    /// <summary><see cref="TouchedRows"/> in libtorch, for indices off the CPU.</summary>
    static long[] TouchedRowsWithTorch(MemoryAccessLog log)
    {
        using var scope = torch.NewDisposeScope();
        var parts = log.Accesses.Select(a => a.ValidMask is { } m
            ? a.Indices.masked_select(m.to(ScalarType.Bool).unsqueeze(-1).expand_as(a.Indices))
            : a.Indices.reshape(-1)).ToArray();
        if (parts.Length == 0) return [];
        var (unique, _, _) = torch.cat(parts).unique(sorted: true);
        return unique.cpu().data<long>().ToArray();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Mark(ReadOnlySpan<long> ids, ReadOnlySpan<bool> valid, bool masked, int perToken, int[] table, List<long> found)
    {
        for (int r = 0; r < ids.Length; r++)
        {
            if (masked && !valid[r / perToken]) continue;
            long id = ids[r];
            if ((ulong)id >= (ulong)table.Length) throw new ArgumentOutOfRangeException(nameof(ids), id, $"slot id outside [0, {table.Length})");
            if (table[id] >= 0) continue;
            table[id] = 0;
            found.Add(id);
        }
    }

    /// <summary>∂L/∂V[rows] as a [rows, Dv] tensor (row i belongs to rows[i]); the managed pass where it applies.</summary>
    /// <param name="log">The step's memory reads, captured (their <c>Read.grad</c> set by backward).</param>
    /// <param name="rows">Distinct rows, in any order.</param>
    /// <param name="values">The value table [S, Dv].</param>
    public Tensor Compute(MemoryAccessLog log, long[] rows, Tensor values) =>
        SupportsManaged(log, values) ? ComputeManaged(log, rows, values) : ComputeWithTorch(log, rows, values);

    /// <summary>The managed formation (CPU float32; see <see cref="SupportsManaged"/>).</summary>
    internal Tensor ComputeManaged(MemoryAccessLog log, long[] rows, Tensor values)
    {
        long slots = values.shape[0];
        int dv = (int)values.shape[1];
        var grad = torch.zeros(rows.Length, dv, ScalarType.Float32);
        if (rows.Length == 0) return grad;
        var table = Table(slots);
        try
        {
            for (int i = 0; i < rows.Length; i++)
            {
                if ((ulong)rows[i] >= (ulong)slots) throw new ArgumentOutOfRangeException(nameof(rows), rows[i], $"row outside [0, {slots})");
                table[rows[i]] = i;
            }
            foreach (var a in log.Accesses)
            {
                var gy = (a.Read?.grad ?? throw new InvalidOperationException("memory reads were not captured; was CaptureValueReads on during forward?")).contiguous();
                var ids = a.Indices.contiguous();
                var w = a.Weights.contiguous();
                Accumulate(MemoryMarshal.Cast<byte, long>(ids.bytes), MemoryMarshal.Cast<byte, float>(w.bytes), (int)a.Indices.shape[^1],
                    MemoryMarshal.Cast<byte, float>(gy.bytes), dv, table, MemoryMarshal.Cast<byte, float>(grad.bytes));
            }
        }
        finally
        {
            foreach (long r in rows) if ((ulong)r < (ulong)slots) table[r] = -1;
        }
        return grad;
    }

    /// <summary>The libtorch formation of <see cref="Compute"/>: every device and dtype, and the reference in tests.</summary>
    public Tensor ComputeWithTorch(MemoryAccessLog log, long[] rows, Tensor values)
    {
        var device = values.device;
        if (_rowPosition is null || _rowPosition.shape[0] != values.shape[0] ||
            _rowPosition.device_type != values.device_type || _rowPosition.device_index != values.device_index)
        {
            _rowPosition?.Dispose();
            _rowPosition = torch.full(values.shape[0], -1L, ScalarType.Int64, device: device).DetachFromDisposeScope();
        }
        var rowIdx = torch.tensor(rows, device: device);
        var grad = torch.zeros(rows.Length, values.shape[1], values.dtype, device: device);
        using (torch.no_grad())
        {
            _rowPosition.index_copy_(0, rowIdx, torch.arange(rows.Length, ScalarType.Int64, device: device));
            try
            {
                foreach (var a in log.Accesses)
                {
                    var gy = a.Read?.grad ?? throw new InvalidOperationException("memory reads were not captured; was CaptureValueReads on during forward?");
                    long perToken = a.Indices.shape[^1];                               // H·K
                    var pos = _rowPosition.index_select(0, a.Indices.reshape(-1));      // (BT·HK)
                    var hit = pos.ge(0).nonzero().squeeze(1);                           // reads of chosen rows
                    if (hit.numel() == 0) continue;
                    var token = hit.div(perToken, rounding_mode: RoundingMode.floor);
                    var w = a.Weights.reshape(-1).index_select(0, hit).to(values.dtype).unsqueeze(1);
                    grad.index_add_(0, pos.index_select(0, hit), gy.index_select(0, token).to(values.dtype) * w, 1.0);
                }
            }
            finally
            {
                _rowPosition.index_fill_(0, rowIdx, -1L);
            }
        }
        return grad;
    }

    int[] Table(long slots)
    {
        if (_table is null || _table.Length != slots)
        {
            _table = new int[checked((int)slots)];
            Array.Fill(_table, -1);
        }
        return _table;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Accumulate(ReadOnlySpan<long> ids, ReadOnlySpan<float> weights, int perToken, ReadOnlySpan<float> gy, int dv,
        int[] table, Span<float> grad)
    {
        for (int r = 0; r < ids.Length; r++)
        {
            int p = table[ids[r]];
            if (p < 0) continue;
            Axpy(weights[r], gy.Slice(r / perToken * dv, dv), grad.Slice(p * dv, dv));
        }
    }

    /// <summary>y += a·x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a);
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float yr = ref MemoryMarshal.GetReference(y);
            for (; j + Vector256<float>.Count <= x.Length; j += Vector256<float>.Count)
                (va * Vector256.LoadUnsafe(ref xr, (nuint)j) + Vector256.LoadUnsafe(ref yr, (nuint)j)).StoreUnsafe(ref yr, (nuint)j);
        }
        for (; j < x.Length; j++) y[j] += a * x[j];
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _rowPosition?.Dispose();
        _rowPosition = null;
        _table = null;
    }
}
