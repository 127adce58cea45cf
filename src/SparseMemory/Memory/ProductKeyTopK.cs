using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Memory;

/// <summary>
/// Exact product-key top-K selection on the CPU in managed code: the fast path of <see cref="ProductKeyMemory.Search"/>.
/// Given half-key scores s[r, c, n] (row r = one token × head, c ∈ {0, 1} the key half, n &lt; N), it returns per row the
/// K best (n₁, n₂) pairs by s[r,0,n₁] + s[r,1,n₂], best first.
/// <para>Per row: sorted top-K of each half (<see cref="TopK"/>: a SIMD bisection finds a value with at least K, and
/// seldom many more, entries at or above it; those entries are collected and each is placed at its rank, counted with
/// SIMD compares), then a lazy merge of the sorted sums V1[u] + V2[v] that emits the K best pairs in order.</para>
/// <para>Why: libtorch's CPU topk costs ~1.7 µs per 128-wide row on this machine and the search made three such calls
/// per forward (≈ 10 ms of a 16 × 32-token step of the base model). Ties go to the lower index (half keys) and to the
/// lower (u, v) rank pair (candidates). The libtorch selection (<see cref="ProductKeyMemory.SearchWithTorch"/>) is the
/// reference; tests compare the two on random inputs. Float32 only; other dtypes and devices use libtorch.</para>
/// </summary>
internal static class ProductKeyTopK
{
    /// <summary>Whether <paramref name="halfScores"/> can take the managed path (CPU float32).</summary>
    public static bool Supports(Tensor halfScores) =>
        halfScores.device_type == DeviceType.CPU && halfScores.dtype == ScalarType.Float32;

    /// <summary>
    /// <paramref name="halfScores"/>: [R…, 2, N] (CPU float32). Returns the sub-key indices [R…, K] of the first and
    /// second half for the K best pairs, best first, or null when a score is NaN (the caller then uses libtorch, which
    /// ranks NaN first).
    /// </summary>
    public static (Tensor First, Tensor Second)? Select(Tensor halfScores, int k)
    {
        if (!Supports(halfScores)) throw new ArgumentException($"managed product-key selection needs CPU float32 scores, got {halfScores.dtype} on {halfScores.device}");
        if (halfScores.dim() < 2 || halfScores.shape[^2] != 2) throw new ArgumentException($"expected [..., 2, N] half scores, got [{string.Join(", ", halfScores.shape)}]");
        long n = halfScores.shape[^1];
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), k, $"top-K must lie in [1, {n}] (the sub-keys per half)");
        var s = halfScores.contiguous();
        if (s.numel() * sizeof(long) > int.MaxValue) throw new ArgumentException("half scores too large for one managed selection call; split the batch");
        long rows = s.numel() / (2 * n);
        var outShape = halfScores.shape[..^2].Append(k).ToArray();
        var first = torch.empty(outShape, ScalarType.Int64);
        var second = torch.empty(outShape, ScalarType.Int64);
        // One thread, on purpose: worker threads that allocate while this thread is inside a libtorch call can trigger
        // a GC that finalizes an implicitly converted TorchSharp Scalar still in use by that call (a use-after-free seen
        // as "Expected false to be true … Scalar.h" crashes). The intra-op threads are busy elsewhere in the step anyway.
        bool ok = RunRows(s, first, second, (int)rows, (int)n, k);
        if (ok) return (first, second);
        first.Dispose(); second.Dispose();
        return null;
    }

    /// <summary>
    /// The same selection on half scores laid out by (head, half) planes: <paramref name="planes"/> is [H·2, R, N]
    /// (CPU float32; plane h·2 + c holds half c of head h for every token r), as a batched matrix product produces them
    /// without a copy. Returns the sub-key indices [R, H, K] of the first and second half, best first, or null on a NaN.
    /// </summary>
    public static (Tensor First, Tensor Second)? SelectPlanar(Tensor planes, int heads, int k)
    {
        if (!Supports(planes)) throw new ArgumentException($"managed product-key selection needs CPU float32 scores, got {planes.dtype} on {planes.device}");
        if (planes.dim() != 3 || planes.shape[0] != 2L * heads) throw new ArgumentException($"expected [H·2 = {2 * heads}, R, N] half-score planes, got [{string.Join(", ", planes.shape)}]");
        long n = planes.shape[2], tokens = planes.shape[1];
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), k, $"top-K must lie in [1, {n}] (the sub-keys per half)");
        var s = planes.contiguous();
        if (s.numel() * sizeof(long) > int.MaxValue) throw new ArgumentException("half scores too large for one managed selection call; split the batch");
        var first = torch.empty([tokens, heads, k], ScalarType.Int64);
        var second = torch.empty([tokens, heads, k], ScalarType.Int64);
        bool ok = RunRows(s, first, second, (int)(tokens * heads), (int)n, k, heads, (int)tokens);      // one thread: see Select
        if (ok) return (first, second);
        first.Dispose(); second.Dispose();
        return null;
    }

    /// <summary>Row r = token·H + head; with <paramref name="planeTokens"/> = 0 the halves of a row are adjacent ([R, 2, N]), otherwise in planes [H·2, tokens, N].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // every method here: compiled optimised at once (tier-0 code of
    // vector intrinsics is an order of magnitude slower, and tiering up may wait while other code keeps compiling)
    static bool RunRows(Tensor s, Tensor first, Tensor second, int rows, int n, int k, int heads = 1, int planeTokens = 0)
    {
        var src = MemoryMarshal.Cast<byte, float>(s.bytes);
        var f = MemoryMarshal.Cast<byte, long>(first.bytes);
        var g = MemoryMarshal.Cast<byte, long>(second.bytes);
        var w = new Workspace(n, k);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> s1, s2;
            if (planeTokens == 0) { s1 = src.Slice(r * 2 * n, n); s2 = src.Slice(r * 2 * n + n, n); }
            else
            {
                int token = r / heads, head = r % heads;
                s1 = src.Slice(((head * 2) * planeTokens + token) * n, n);
                s2 = src.Slice(((head * 2 + 1) * planeTokens + token) * n, n);
            }
            if (!SelectRow(s1, s2, k, w, f.Slice(r * k, k), g.Slice(r * k, k))) return false;
        }
        return true;
    }

    /// <summary>Scratch buffers of one selection call.</summary>
    sealed class Workspace(int n, int k)
    {
        public readonly float[] V1 = new float[k], V2 = new float[k], CandV = new float[n + Vector256<float>.Count];
        public readonly int[] I1 = new int[k], I2 = new int[k], CandI = new int[n], Next = new int[k];
    }

    /// <summary>One row; false if a score is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static bool SelectRow(ReadOnlySpan<float> s1, ReadOnlySpan<float> s2, int k, Workspace w, Span<long> first, Span<long> second)
    {
        if (!TopK(s1, k, w.V1, w.I1, w.CandV, w.CandI) || !TopK(s2, k, w.V2, w.I2, w.CandV, w.CandI)) return false;
        // Lazy k-way merge of the runs u = 0, 1, …: run u yields V1[u] + V2[v] for v = 0, 1, … (descending). Run u+1 can
        // only lead once (u, 0) has been taken, so it is opened then; each output scans the open runs' heads.
        var a1 = w.V1; var a2 = w.V2; var next = w.Next;
        int open = 1;
        next[0] = 0;
        for (int j = 0; j < k; j++)
        {
            int bu = -1;
            float best = 0;
            for (int u = 0; u < open; u++)
            {
                int v = next[u];
                if (v >= k) continue;
                float c = a1[u] + a2[v];
                if (bu < 0 || c > best) { best = c; bu = u; }       // strict: ties go to the lower rank pair
            }
            first[j] = w.I1[bu];
            second[j] = w.I2[next[bu]];
            if (next[bu] == 0 && bu == open - 1 && open < k) next[open++] = 0;
            next[bu]++;
        }
        return true;
    }

    /// <summary>
    /// Sorted (descending) top-k of <paramref name="row"/> into <paramref name="values"/> / <paramref name="index"/>;
    /// ties keep the lower index. False if the row holds a NaN. <paramref name="candV"/> and <paramref name="candI"/> are
    /// scratch of at least the row's length.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static bool TopK(ReadOnlySpan<float> row, int k, Span<float> values, Span<int> index, Span<float> candV, Span<int> candI)
    {
        int n = row.Length;
        if (!MinMax(row, out float lo, out float hi)) return false;
        if (k < n)
        {
            // Invariant: at least k entries are ≥ lo. Stop once few enough are (or the bracket cannot shrink: ties).
            int enough = k + 1 + k / 8;
            for (int it = 0; it < 32; it++)
            {
                float mid = lo + (hi - lo) * 0.5f;
                if (mid <= lo || mid >= hi) break;
                int c = CountAtLeast(row, mid);
                if (c >= k) { lo = mid; if (c <= enough) break; }
                else hi = mid;
            }
        }
        // Every entry below lo is beaten by at least k others: only the entries ≥ lo are candidates (in index order).
        // Each candidate goes to its rank = #(greater) + #(equal with a lower index), counted with SIMD compares over
        // the candidates padded with NaN (which compares false both ways).
        int count = Collect(row, lo, candV, candI);
        int padded = (count + Vector256<float>.Count - 1) / Vector256<float>.Count * Vector256<float>.Count;
        candV[count..padded].Fill(float.NaN);
        var cv = candV[..padded];
        for (int a = 0; a < count; a++)
        {
            float x = cv[a];
            var (greater, equal) = CountGreaterEqual(cv, x);
            int rank = greater;
            if (rank >= k) continue;
            if (equal > 1)
                for (int b = 0; b < a; b++) if (cv[b] == x) rank++;      // ties: lower index first (rare path)
            if (rank < k) { values[rank] = x; index[rank] = candI[a]; }
        }
        return true;
    }

    /// <summary>Minimum and maximum of a non-empty row; false if it holds a NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static bool MinMax(ReadOnlySpan<float> row, out float min, out float max)
    {
        min = row[0]; max = row[0];
        int j = 0;
        if (Vector256.IsHardwareAccelerated && row.Length >= Vector256<float>.Count)
        {
            var vmin = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(row));
            var vmax = vmin;
            bool finite = Vector256.EqualsAll(vmin, vmin);
            for (j = Vector256<float>.Count; j + Vector256<float>.Count <= row.Length; j += Vector256<float>.Count)
            {
                var x = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(row), (nuint)j);
                finite &= Vector256.EqualsAll(x, x);
                vmin = Vector256.Min(vmin, x);
                vmax = Vector256.Max(vmax, x);
            }
            if (!finite) return false;
            for (int l = 0; l < Vector256<float>.Count; l++)
            {
                if (vmin[l] < min) min = vmin[l];
                if (vmax[l] > max) max = vmax[l];
            }
        }
        for (; j < row.Length; j++)
        {
            float x = row[j];
            if (float.IsNaN(x)) return false;
            if (x < min) min = x;
            if (x > max) max = x;
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static int CountAtLeast(ReadOnlySpan<float> row, float threshold)
    {
        int c = 0, j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var t = Vector256.Create(threshold);
            for (; j + Vector256<float>.Count <= row.Length; j += Vector256<float>.Count)
                c += BitOperations.PopCount(Vector256.ExtractMostSignificantBits(Vector256.GreaterThanOrEqual(Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(row), (nuint)j), t)));
        }
        for (; j < row.Length; j++) if (row[j] >= threshold) c++;
        return c;
    }

    /// <summary>(#entries &gt; x, #entries == x) of a row whose length is a multiple of the vector width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static (int Greater, int Equal) CountGreaterEqual(ReadOnlySpan<float> row, float x)
    {
        int gt = 0, eq = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var t = Vector256.Create(x);
            for (int j = 0; j < row.Length; j += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(row), (nuint)j);
                gt += BitOperations.PopCount(Vector256.ExtractMostSignificantBits(Vector256.GreaterThan(v, t)));
                eq += BitOperations.PopCount(Vector256.ExtractMostSignificantBits(Vector256.Equals(v, t)));
            }
        }
        else
            foreach (float v in row) { if (v > x) gt++; else if (v == x) eq++; }
        return (gt, eq);
    }

    /// <summary>Copies the entries ≥ <paramref name="threshold"/> (and their indices) in index order; returns how many.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static int Collect(ReadOnlySpan<float> row, float threshold, Span<float> candV, Span<int> candI)
    {
        int c = 0, j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var t = Vector256.Create(threshold);
            for (; j + Vector256<float>.Count <= row.Length; j += Vector256<float>.Count)
            {
                uint m = Vector256.ExtractMostSignificantBits(Vector256.GreaterThanOrEqual(Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(row), (nuint)j), t));
                while (m != 0)
                {
                    int i = j + BitOperations.TrailingZeroCount(m);
                    m &= m - 1;
                    candV[c] = row[i]; candI[c] = i; c++;
                }
            }
        }
        for (; j < row.Length; j++)
            if (row[j] >= threshold) { candV[c] = row[j]; candI[c] = j; c++; }
        return c;
    }
}
