using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SparseMemory.Memory;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Finetuning;

/// <summary>
/// The selected rows' gradient ∂L/∂V[r] = Σ over reads of r of w · ∂L/∂y(token), formed in one managed pass over the
/// reads on the CPU in float32: a row → position table marks the t selected rows, and every read of one of them adds
/// w · ∂L/∂y of its token to that row (SIMD axpy). Replaces four gathers, a nonzero and an index_add of the libtorch
/// formation (<see cref="SparseMemoryMethod.RowGradientsWithTorch"/>, the reference in tests and the path elsewhere).
/// Reads are summed in (layer, token, head, rank) order, so results are deterministic.
/// </summary>
internal static class ManagedRowGradients
{
    /// <summary>CPU float32 values, weights and read gradients.</summary>
    public static bool Supports(MemoryAccessLog log, Tensor values) =>
        values.device_type == DeviceType.CPU && values.dtype == ScalarType.Float32 &&
        log.Accesses.All(a => a.Read?.grad is { } g && g.dtype == ScalarType.Float32 && g.device_type == DeviceType.CPU &&
                              a.Weights.dtype == ScalarType.Float32 && a.Indices.device_type == DeviceType.CPU);

    /// <summary>∂L/∂V[rows] as a [rows, Dv] float32 tensor.</summary>
    public static Tensor Compute(MemoryAccessLog log, long[] rows, Tensor values)
    {
        long slots = values.shape[0];
        int dv = (int)values.shape[1];
        var grad = torch.zeros(rows.Length, dv, ScalarType.Float32);
        if (rows.Length == 0) return grad;
        if (_table is null || _table.Length != slots)
        {
            _table = new int[slots];
            Array.Fill(_table, -1);
        }
        var table = _table;
        try
        {
            for (int i = 0; i < rows.Length; i++)
            {
                if ((ulong)rows[i] >= (ulong)slots) throw new ArgumentOutOfRangeException(nameof(rows), rows[i], $"selected row outside [0, {slots})");
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

    /// <summary>Row → position in the selection (−1 elsewhere), kept between steps; all −1 outside <see cref="Compute"/>.</summary>
    [ThreadStatic] static int[]? _table;

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
}
