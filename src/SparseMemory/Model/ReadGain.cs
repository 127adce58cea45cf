using SparseMemory.Memory;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Model;

/// <summary>
/// The read gain of a memory layer: how far one plain-SGD step on the value rows a token reads moves that token's
/// layer output, per unit of learning rate and of the output's gradient (docs/own-model.md#read-gain). For a token with
/// read weights w_j, gate g and output projection W2, the step on row j is −lr·w_j·(g ⊙ W2ᵀe) (e = ∂L/∂out), so the
/// output moves by −lr·(Σ_j w_j²)·J Jᵀ e with J = W2·diag(g). The gain is the mean eigenvalue of that operator,
/// (Σ_j w_j²)·‖W2·diag(g)‖²_F / D, averaged over the real tokens read.
/// <para>Scaling the value table by s and every W2 by 1/s leaves the model's function unchanged and divides the gain by
/// s²: the same sparse-finetuning learning rate then takes steps 1/s² as large in output terms. Sparse memory
/// finetuning's learning rate is therefore only meaningful together with the gain; <c>smf retrofit</c> brings a healed
/// memory to a stated gain (<see cref="Rebalance"/>), so the finetuning defaults apply to it as to a native model.</para>
/// </summary>
public static class ReadGain
{
    /// <summary>Sum of a memory read's gain over its real tokens, and the number of those tokens (float64).</summary>
    /// <param name="access">One layer's read (its <see cref="MemoryAccess.Gate"/> must be recorded for a gated memory).</param>
    /// <param name="outProjection">That layer's W2, [D, Dv].</param>
    public static (double Sum, long Tokens) Of(MemoryAccess access, Tensor outProjection)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var w = access.Weights.to(ScalarType.Float64);                                   // (B, T, H·K)
        var sumW2 = w.square().sum(-1);                                                  // (B, T)
        var col = outProjection.detach().to(ScalarType.Float64).square().sum(dim: 0L);   // (Dv): Σ_d W2[d, v]² (a bare 0 binds to sum(ScalarType))
        double dim = outProjection.shape[0];
        var j = access.Gate is null
            ? col.sum().expand(sumW2.shape)                                              // no gate: ‖W2‖²_F for every token
            : (access.Gate.to(ScalarType.Float64).square() * col).sum(-1);               // (B, T): Σ_v g_v² Σ_d W2[d, v]²
        var per = sumW2 * j / dim;
        if (access.ValidMask is null) return (per.sum().item<double>(), per.numel());
        var mask = access.ValidMask.to(ScalarType.Float64);
        return ((per * mask).sum().item<double>(), (long)mask.sum().item<double>());
    }

    /// <summary>
    /// The mean read gain of every memory layer of <paramref name="model"/> over the tokens of <paramref name="batches"/>
    /// ([B, T] token ids), keyed by block index. Runs the model in eval mode without gradients.
    /// </summary>
    public static IReadOnlyDictionary<int, double> Measure(LanguageModel model, IEnumerable<Tensor> batches)
    {
        var blocks = model.Blocks;
        var sums = new Dictionary<int, (double Sum, long Tokens)>();
        using var _ = torch.no_grad();
        bool training = model.training;
        model.eval();
        try
        {
            foreach (var tokens in batches)
            {
                using var scope = torch.NewDisposeScope();
                var log = new MemoryAccessLog();
                model.Forward(tokens, log, null);
                foreach (var a in log.Accesses)
                {
                    var (s, n) = Of(a, blocks[a.Layer].Memory!.OutProjectionWeight);
                    var (s0, n0) = sums.GetValueOrDefault(a.Layer);
                    sums[a.Layer] = (s0 + s, n0 + n);
                }
            }
        }
        finally { model.train(training); }
        return sums.ToDictionary(kv => kv.Key, kv => kv.Value.Tokens == 0 ? 0.0 : kv.Value.Sum / kv.Value.Tokens);
    }

    /// <summary>The mean over layers of <see cref="Measure"/> (the value table is shared, so one scale serves them all).</summary>
    public static double Mean(IReadOnlyDictionary<int, double> perLayer) => perLayer.Count == 0 ? 0 : perLayer.Values.Average();

    /// <summary>
    /// Multiplies the value table by <paramref name="scale"/> and divides every memory layer's W2 by it (biases
    /// untouched): the same function, up to float rounding, with every read gain divided by scale².
    /// </summary>
    public static void Rebalance(LanguageModel model, double scale)
    {
        if (!(scale > 0) || double.IsInfinity(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "the scale must be a finite positive number");
        if (model.MemoryValues is null) throw new InvalidOperationException("the model has no memory layer to rebalance");
        using var _ = torch.no_grad();
        model.MemoryValues.mul_(scale);
        foreach (var m in model.MemoryLayers) m.OutProjectionWeight.div_(scale);
    }

    /// <summary>The value-table scale that brings a mean gain <paramref name="measured"/> to <paramref name="target"/>: √(measured / target).</summary>
    public static double ScaleFor(double measured, double target) =>
        measured > 0 && target > 0 ? Math.Sqrt(measured / target) : throw new ArgumentOutOfRangeException(nameof(measured), $"gains must be positive (measured {measured}, target {target})");
}
