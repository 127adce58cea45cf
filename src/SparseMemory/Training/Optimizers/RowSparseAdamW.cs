using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>
/// AdamW for a value table that updates only the rows selected at each step (docs/method.md#row-sparse-adamw; docs/pitfalls.md#unselected-rows-must-not-move; tests: docs/testing.md#optimizer-row-invariance).
/// </summary>
/// <remarks>
/// <para>For the selected rows R of a step, with per-row step counter n_r (incremented only when r is selected):</para>
/// <code>
/// w_r ← w_r · (1 − lr·λ)                        decoupled weight decay, selected rows only
/// m_r ← β1·m_r + (1 − β1)·g_r
/// v_r ← β2·v_r + (1 − β2)·g_r²
/// w_r ← w_r − lr/(1 − β1^n_r) · m_r / (√v_r / √(1 − β2^n_r) + ε)
/// </code>
/// <para>Rows outside R, their moments and their counters are not touched at all, bit for bit: there is no
/// momentum leak and no weight decay on unselected rows. The moments are dense [S, Dv] tensors allocated on the
/// first step, updated only through <c>index_select</c> → Adam math → <c>index_copy_</c> on R.</para>
/// </remarks>
/// <param name="beta1">β1.</param>
/// <param name="beta2">β2.</param>
/// <param name="eps">ε.</param>
/// <param name="weightDecay">Decoupled weight decay λ.</param>
public sealed class RowSparseAdamW(double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.0) : IRowUpdate
{
    private readonly RowGradientMask _mask = new();
    private Tensor? _expAvg;
    private Tensor? _expAvgSq;
    private long[]? _rowSteps;

    /// <summary>β1.</summary>
    public double Beta1 { get; } = CheckUnit(beta1, nameof(beta1));

    /// <summary>β2.</summary>
    public double Beta2 { get; } = CheckUnit(beta2, nameof(beta2));

    /// <summary>ε.</summary>
    public double Eps { get; } = eps > 0 ? eps : throw new ArgumentOutOfRangeException(nameof(eps), eps, "ε must be positive, e.g. 1e-8.");

    /// <summary>Decoupled weight decay λ.</summary>
    public double WeightDecay { get; } = weightDecay >= 0 ? weightDecay : throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Weight decay must be ≥ 0.");

    /// <summary>First moments [S, Dv]; null before the first step.</summary>
    public Tensor? ExpAvg => _expAvg;

    /// <summary>Second moments [S, Dv]; null before the first step.</summary>
    public Tensor? ExpAvgSq => _expAvgSq;

    /// <summary>How many times <paramref name="row"/> has been updated (its bias-correction step).</summary>
    /// <param name="row">A row of the table.</param>
    public long RowStepCount(long row) => _rowSteps is null ? 0 : _rowSteps[row];

    /// <summary>Updates only <paramref name="rows"/> of <paramref name="weight"/>.</summary>
    /// <param name="weight">The value table [S, Dv], a leaf parameter; changed in place.</param>
    /// <param name="grad">Its dense gradient [S, Dv]; only the selected rows are read.</param>
    /// <param name="rows">Distinct rows to update, each in [0, S); may be empty (then nothing happens).</param>
    /// <param name="lr">Learning rate, ≥ 0.</param>
    public void Step(Tensor weight, Tensor grad, long[] rows, double lr)
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(grad);
        ArgumentNullException.ThrowIfNull(rows);
        if (!(lr >= 0) || double.IsInfinity(lr))
        {
            throw new ArgumentOutOfRangeException(nameof(lr), lr, "The learning rate must be finite and ≥ 0.");
        }

        if (weight.dim() != 2 || !grad.shape.SequenceEqual(weight.shape))
        {
            throw new ArgumentException(
                $"Expected weight [S, Dv] and a gradient of the same shape, got [{string.Join(", ", weight.shape)}] and [{string.Join(", ", grad.shape)}].");
        }

        CheckRows(rows, weight.shape[0]);
        using var gscope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        StepRows(weight, grad.index_select(0, torch.tensor(rows, device: grad.device)), rows, lr);
    }

    /// <summary>
    /// One AdamW step on <paramref name="rows"/> given only their gradients <paramref name="rowGrads"/> [rows, Dv]
    /// (row i of it belongs to rows[i]); used when no dense table gradient exists.
    /// </summary>
    public void StepRows(Tensor weight, Tensor rowGrads, long[] rows, double lr)
    {
        if (!(lr >= 0) || double.IsInfinity(lr))
            throw new ArgumentOutOfRangeException(nameof(lr), lr, "The learning rate must be finite and ≥ 0.");
        if (weight.dim() != 2 || rowGrads.dim() != 2 || rowGrads.shape[0] != rows.Length || rowGrads.shape[1] != weight.shape[1])
            throw new ArgumentException($"Expected weight [S, Dv] and row gradients [{rows.Length}, Dv], got [{string.Join(", ", weight.shape)}] and [{string.Join(", ", rowGrads.shape)}].");
        long s = weight.shape[0];
        CheckRows(rows, s);
        if (_expAvg is null || _expAvgSq is null || _rowSteps is null)
        {
            _expAvg = torch.zeros_like(weight).detach().DetachFromDisposeScope();
            _expAvgSq = torch.zeros_like(weight).detach().DetachFromDisposeScope();
            _rowSteps = new long[s];
        }
        else if (!_expAvg.shape.SequenceEqual(weight.shape) || _expAvg.dtype != weight.dtype)
        {
            throw new ArgumentException("This optimizer's state belongs to a value table of another shape or dtype; use one optimizer per table.", nameof(weight));
        }

        if (rows.Length == 0)
        {
            return;
        }

        var bc1 = new double[rows.Length];
        var bc2Sqrt = new double[rows.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            long n = ++_rowSteps[rows[i]];
            bc1[i] = 1 - Math.Pow(Beta1, n);
            bc2Sqrt[i] = Math.Sqrt(1 - Math.Pow(Beta2, n));
        }

        if (!ForceTorchPath && ManagedApplies(weight, rowGrads))
        {
            StepManaged(weight, rowGrads, rows, lr, bc1, bc2Sqrt);
            return;
        }

        using var scope = torch.NewDisposeScope();
        using (torch.no_grad())
        {
            var device = weight.device;
            var idx = torch.tensor(rows, device: device);
            var stepSize = torch.tensor(bc1, device: device).reciprocal_().mul_(-lr).to(weight.dtype).unsqueeze(1);
            var bias2 = torch.tensor(bc2Sqrt, device: device).to(weight.dtype).unsqueeze(1);

            var w = weight.index_select(0, idx);
            var g = rowGrads.to(weight.dtype);
            var m = _expAvg.index_select(0, idx);
            var v = _expAvgSq.index_select(0, idx);

            if (WeightDecay != 0)
            {
                w.mul_(1 - (lr * WeightDecay));
            }

            m.mul_(Beta1).add_(g, alpha: 1 - Beta1);
            v.mul_(Beta2).addcmul_(g, g, value: 1 - Beta2);
            var denom = v.sqrt().div_(bias2).add_(Eps);
            w.add_(m.div(denom).mul_(stepSize));

            weight.index_copy_(0, idx, w);
            _expAvg.index_copy_(0, idx, m);
            _expAvgSq.index_copy_(0, idx, v);
        }
    }

    /// <summary>The managed path applies: table, moments and row gradients are contiguous CPU float32 tensors.</summary>
    bool ManagedApplies(Tensor weight, Tensor rowGrads) =>
        weight.device_type == DeviceType.CPU && weight.dtype == ScalarType.Float32 && weight.is_contiguous() &&
        rowGrads.device_type == DeviceType.CPU && rowGrads.dtype == ScalarType.Float32 && rowGrads.is_contiguous() &&
        _expAvg!.is_contiguous() && _expAvgSq!.is_contiguous();

    /// <summary>Forces the libtorch path (index_select → Adam math → index_copy_) even where the managed one applies; for tests.</summary>
    internal bool ForceTorchPath { get; set; }

    /// <summary>
    /// The same update as the libtorch path in one managed pass over the rows, in place (CPU float32): no gathered
    /// copies of w, m and v, no scatter back. On a 1M-slot table with ~10⁵ touched rows per step the libtorch path spent
    /// about a second in gathers, temporaries and scatters; this pass touches each element once.
    /// </summary>
    void StepManaged(Tensor weight, Tensor rowGrads, long[] rows, double lr, double[] bc1, double[] bc2Sqrt)
    {
        int dv = (int)weight.shape[1];
        var w = MemoryMarshal.Cast<byte, float>(weight.bytes);
        var m = MemoryMarshal.Cast<byte, float>(_expAvg!.bytes);
        var v = MemoryMarshal.Cast<byte, float>(_expAvgSq!.bytes);
        var g = MemoryMarshal.Cast<byte, float>(rowGrads.bytes);
        float decay = (float)(1 - (lr * WeightDecay));
        float b1 = (float)Beta1, c1 = (float)(1 - Beta1), b2 = (float)Beta2, c2 = (float)(1 - Beta2), eps = (float)Eps;
        for (int i = 0; i < rows.Length; i++)
        {
            int at = checked((int)(rows[i] * dv));
            UpdateRow(w.Slice(at, dv), m.Slice(at, dv), v.Slice(at, dv), g.Slice(i * dv, dv),
                WeightDecay != 0 ? decay : 1f, b1, c1, b2, c2, eps, (float)(-lr / bc1[i]), (float)bc2Sqrt[i]);
        }
    }

    /// <summary>w ← w·decay; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; w ← w + step·m / (√v / bias2 + ε).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void UpdateRow(Span<float> w, Span<float> m, Span<float> v, ReadOnlySpan<float> g,
        float decay, float b1, float c1, float b2, float c2, float eps, float step, float bias2)
    {
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            ref float mr = ref MemoryMarshal.GetReference(m);
            ref float vr = ref MemoryMarshal.GetReference(v);
            ref float gr = ref MemoryMarshal.GetReference(g);
            var vDecay = Vector256.Create(decay); var vb1 = Vector256.Create(b1); var vc1 = Vector256.Create(c1);
            var vb2 = Vector256.Create(b2); var vc2 = Vector256.Create(c2); var vEps = Vector256.Create(eps);
            var vStep = Vector256.Create(step); var vBias2 = Vector256.Create(bias2);
            for (; j + Vector256<float>.Count <= w.Length; j += Vector256<float>.Count)
            {
                var gj = Vector256.LoadUnsafe(ref gr, (nuint)j);
                var mj = vb1 * Vector256.LoadUnsafe(ref mr, (nuint)j) + vc1 * gj;
                var vj = vb2 * Vector256.LoadUnsafe(ref vr, (nuint)j) + vc2 * (gj * gj);
                var wj = Vector256.LoadUnsafe(ref wr, (nuint)j) * vDecay;
                wj += mj / (Vector256.Sqrt(vj) / vBias2 + vEps) * vStep;
                mj.StoreUnsafe(ref mr, (nuint)j);
                vj.StoreUnsafe(ref vr, (nuint)j);
                wj.StoreUnsafe(ref wr, (nuint)j);
            }
        }
        for (; j < w.Length; j++)
        {
            float gj = g[j];
            m[j] = b1 * m[j] + c1 * gj;
            v[j] = b2 * v[j] + c2 * (gj * gj);
            w[j] = w[j] * decay + m[j] / (MathF.Sqrt(v[j]) / bias2 + eps) * step;
        }
    }

    /// <summary>The moments and per-row step counts, so a resumed run continues exactly (empty before the first step).</summary>
    public IReadOnlyList<(string Name, Tensor Tensor)> State() =>
        _expAvg is not null && _expAvgSq is not null && _rowSteps is not null
            ? [("exp_avg", _expAvg), ("exp_avg_sq", _expAvgSq), ("row_steps", torch.tensor(_rowSteps))]
            : [];

    /// <summary>Restores what <see cref="State"/> returned.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> t, string source)
    {
        if (t.Count == 0) return;
        if (!t.ContainsKey("exp_avg") || !t.ContainsKey("exp_avg_sq") || !t.ContainsKey("row_steps"))
            throw new InvalidDataException($"{source}: not a row-sparse AdamW state (needs exp_avg, exp_avg_sq, row_steps)");
        Tensor m = t["exp_avg"], v = t["exp_avg_sq"], n = t["row_steps"];
        if (m.dim() != 2 || !v.shape.SequenceEqual(m.shape) || v.dtype != m.dtype || !m.is_floating_point() ||
            n.dtype != ScalarType.Int64 || n.dim() != 1 || n.shape[0] != m.shape[0])
            throw new InvalidDataException($"{source}: inconsistent row-sparse AdamW state: exp_avg {Describe(m)}, exp_avg_sq {Describe(v)}, " +
                $"row_steps {Describe(n)} (expected two equal [S, Dv] float tensors and [S] int64)");
        var steps = n.data<long>().ToArray();
        if (steps.Any(x => x < 0)) throw new InvalidDataException($"{source}: row_steps holds a negative step count");
        _expAvg?.Dispose();
        _expAvgSq?.Dispose();
        _expAvg = m.DetachFromDisposeScope();
        _expAvgSq = v.DetachFromDisposeScope();
        _rowSteps = steps;
    }

    static string Describe(Tensor t) => $"{t.dtype} [{string.Join(", ", t.shape)}]";

    /// <summary>Zeroes all rows of <paramref name="grad"/> but <paramref name="rows"/>, reusing one mask buffer.</summary>
    /// <param name="grad">Dense gradient [S, ...], changed in place.</param>
    /// <param name="rows">Rows to keep.</param>
    public void MaskRowsInPlace(Tensor grad, long[] rows) => _mask.MaskRowsInPlace(grad, rows);

    /// <inheritdoc />
    public void Dispose()
    {
        _expAvg?.Dispose();
        _expAvgSq?.Dispose();
        _expAvg = null;
        _expAvgSq = null;
        _mask.Dispose();
    }

    internal static void CheckRows(long[] rows, long slotCount)
    {
        // Lazy value updates pass every row a batch read (10⁵ and more), sorted: checked in one pass without a set.
        bool ascending = true;
        for (int i = 0; i < rows.Length && ascending; i++)
            ascending = (ulong)rows[i] < (ulong)slotCount && (i == 0 || rows[i] > rows[i - 1]);
        if (ascending) return;
        var seen = new HashSet<long>();
        foreach (long r in rows)
        {
            if (r < 0 || r >= slotCount)
            {
                throw new ArgumentOutOfRangeException(nameof(rows), r, $"Row {r} is outside the value table [0, {slotCount}).");
            }

            if (!seen.Add(r))
            {
                throw new ArgumentException($"Row {r} appears twice; pass distinct rows (a SlotSelection's ids are distinct).", nameof(rows));
            }
        }
    }

    private static double CheckUnit(double beta, string name) =>
        beta >= 0 && beta < 1 ? beta : throw new ArgumentOutOfRangeException(name, beta, "β must lie in [0, 1), e.g. 0.9 or 0.999.");
}
