using System.Numerics;
using System.Runtime.CompilerServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SparseMemory.Memory;

/// <summary>
/// The memory read y[b] = Σ_j w[b, j] · V[id[b, j]] (an <c>EmbeddingBag</c> in sum mode with per-sample weights) with a
/// managed backward on the CPU: libtorch's CPU backward sorts all B·H·K ids to build the table gradient and makes a
/// second pass for the weights' gradient (about 80 ms of a 32 × 128 step of the base model), where one pass over the
/// reads forms both: ∂L/∂V[id] += w · ∂L/∂y[b] and ∂L/∂w[b, j] = ⟨∂L/∂y[b], V[id]⟩. The forward pass is libtorch's.
/// <para>The pass is split by value row across <c>torch.get_num_threads()</c> workers, each owning a contiguous
/// range of rows (so no two write one row, and each read's weight gradient is written by the owner of its row). The
/// workers only do arithmetic on memory the caller pinned; they allocate nothing (docs/pitfalls.md#background-gc-finalizes-scalars).
/// It runs as a TorchSharp custom autograd function, which is why it is limited to the CPU, where libtorch runs
/// backward on the calling thread (docs/pitfalls.md#gradient-without-custom-autograd); elsewhere the plain
/// EmbeddingBag runs. <c>ValueReadTests</c> compares both in float64.</para>
/// </summary>
internal static class ValueRead
{
    /// <summary>Whether the managed backward applies: CPU, float32 or float64, and gradient needed.</summary>
    public static bool Supports(Tensor table, Tensor weights) =>
        table.device_type == DeviceType.CPU && weights.device_type == DeviceType.CPU && table.dtype == weights.dtype &&
        table.dtype is ScalarType.Float32 or ScalarType.Float64 && torch.is_grad_enabled() && (table.requires_grad || weights.requires_grad) &&
        table.numel() * table.element_size() <= int.MaxValue && weights.numel() * sizeof(long) <= int.MaxValue;   // spans of the data

    /// <summary>y [R, Dv] from ids [R, J] (int64) and weights [R, J], with the managed backward.</summary>
    public static Tensor Apply(EmbeddingBag bag, Tensor ids, Tensor weights) => Read.apply(bag.weight!, ids, weights, bag);

    /// <summary>Partitions of the backward pass; tests set it to exercise the split on any machine (null: the thread count).</summary>
    internal static int? PartsForTests { get; set; }

    /// <summary>Managed backward passes run in this process (tests check the fast path was taken).</summary>
    internal static int BackwardCalls;

    sealed class Read : autograd.SingleTensorFunction<Read>
    {
        public override string Name => "MemoryValueRead";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (table, ids, w, bag) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (EmbeddingBag)vars[3]);
            ctx.save_for_backward([table, ids, w]);
            ctx.save_data("table", table.requires_grad);
            ctx.save_data("weights", w.requires_grad);
            return bag.forward(ids, null, w);                               // autograd is off inside forward
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
        {
            Interlocked.Increment(ref BackwardCalls);
            var saved = ctx.get_saved_variables();
            var (table, ids, w) = (saved[0], saved[1].contiguous(), saved[2].contiguous());
            var gy = grad.contiguous();
            var gTable = (bool)ctx.get_data("table") ? torch.zeros_like(table) : null;
            var gW = (bool)ctx.get_data("weights") ? torch.empty_like(w) : null;
            Backward(table.contiguous(), ids, w, gy, gTable, gW, PartsForTests);
            return [gTable!, null!, gW!, null!];
        }
    }

    /// <summary>∂L/∂V (into <paramref name="gTable"/>, zeroed) and ∂L/∂w (into <paramref name="gW"/>), either may be null.</summary>
    internal static unsafe void Backward(Tensor table, Tensor ids, Tensor w, Tensor gy, Tensor? gTable, Tensor? gW, int? partsOverride = null)
    {
        long rows = table.shape[0];
        int dv = (int)table.shape[1], perRow = (int)ids.shape[^1];
        long reads = ids.numel();
        int parts = partsOverride ?? (int)Math.Clamp(Math.Min(torch.get_num_threads(), reads / 4096 + 1), 1, 64);
        var job = new Job((long*)Ptr(ids), reads, perRow, dv, rows, Ptr(table), Ptr(w), Ptr(gy),
            gTable is null ? null : Ptr(gTable), gW is null ? null : Ptr(gW), parts);
        bool f64 = table.dtype == ScalarType.Float64;
        if (parts == 1) job.Run(0, f64);
        else Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p => job.Run(p, f64));
        GC.KeepAlive(table); GC.KeepAlive(ids); GC.KeepAlive(w); GC.KeepAlive(gy); GC.KeepAlive(gTable); GC.KeepAlive(gW);
    }

    /// <summary>Address of a contiguous CPU tensor's data (native memory: it does not move).</summary>
    static unsafe void* Ptr(Tensor t) => Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(t.bytes));

    /// <summary>Raw views of the tensors (they stay alive and unmoved: native memory, kept alive by the caller).</summary>
    sealed unsafe class Job(long* ids, long reads, int perRow, int dv, long rows, void* table, void* w, void* gy, void* gTable, void* gW, int parts)
    {
        public void Run(int part, bool f64)
        {
            long lo = rows * part / parts, hi = rows * (part + 1) / parts;
            if (f64) Pass((double*)table, (double*)w, (double*)gy, (double*)gTable, (double*)gW, lo, hi);
            else Pass((float*)table, (float*)w, (float*)gy, (float*)gTable, (float*)gW, lo, hi);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Pass<T>(T* table, T* w, T* gy, T* gTable, T* gW, long lo, long hi) where T : unmanaged, INumber<T>
        {
            int vc = Vector<T>.Count;
            for (long r = 0; r < reads; r++)
            {
                long id = ids[r];
                if (id < lo || id >= hi) continue;
                var g = new Span<T>(gy + r / perRow * dv, dv);
                var v = new Span<T>(table + id * dv, dv);
                if (gW != null)
                {
                    var acc = Vector<T>.Zero;
                    int k = 0;
                    for (; k <= dv - vc; k += vc) acc += new Vector<T>(g[k..]) * new Vector<T>(v[k..]);
                    T dot = Vector.Sum(acc);
                    for (; k < dv; k++) dot += g[k] * v[k];
                    gW[r] = dot;
                }
                if (gTable != null)
                {
                    var gt = new Span<T>(gTable + id * dv, dv);
                    var a = new Vector<T>(w[r]);
                    int k = 0;
                    for (; k <= dv - vc; k += vc) (new Vector<T>(gt[k..]) + a * new Vector<T>(g[k..])).CopyTo(gt[k..]);
                    for (; k < dv; k++) gt[k] += w[r] * g[k];
                }
            }
        }
    }
}
