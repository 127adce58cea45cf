using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Finetuning;

/// <summary>
/// A low-rank adapter for one <see cref="Model.Projection"/> W [out, in] (Hu et al. 2021, initialised as PEFT):
/// output x ↦ dropout(x) Aᵀ Bᵀ · α/r with A [r, in] Kaiming-uniform (a = √5) and B [out, r] zero, so a fresh adapter
/// is a no-op. State-dict names below the projection: <c>adapter.a</c>, <c>adapter.b</c>.
/// </summary>
/// <remarks>
/// Merging (<see cref="Merge"/>) adds <see cref="DeltaWeight"/> to the base weight and switches the adapter off (it then
/// contributes zeros), so the projection computes the same function through W alone; merging a merged adapter and
/// unmerging an unmerged one change nothing. Training a merged adapter is meaningless (its output no longer depends on
/// A and B), so unmerge before training again.
/// </remarks>
public sealed class LoraAdapter : nn.Module<Tensor, Tensor>
{
    readonly Parameter a;        // (r, in)
    readonly Parameter b;        // (out, r)
    readonly Dropout dropout;

    /// <summary>
    /// Creates an adapter for an [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] weight. A is drawn from
    /// the current torch RNG (seed it for reproducibility); parameters are created with <paramref name="dtype"/> on
    /// <paramref name="device"/> (default: float32 on the CPU).
    /// </summary>
    public LoraAdapter(int inFeatures, int outFeatures, int rank, double alpha, double dropoutP = 0.0,
        ScalarType dtype = ScalarType.Float32, Device? device = null) : base(nameof(LoraAdapter))
    {
        if (rank <= 0) throw new ArgumentException($"LoRA rank must be positive (got {rank})", nameof(rank));
        if (!(alpha > 0) || double.IsInfinity(alpha)) throw new ArgumentException($"LoRA alpha must be positive and finite (got {alpha})", nameof(alpha));
        if (dropoutP is < 0 or >= 1 || double.IsNaN(dropoutP)) throw new ArgumentException($"LoRA dropout must be in [0, 1) (got {dropoutP})", nameof(dropoutP));
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Rank = rank;
        Alpha = alpha;
        Scale = alpha / rank;
        DropoutP = dropoutP;
        a = nn.Parameter(torch.empty(rank, inFeatures, dtype, device));
        b = nn.Parameter(torch.zeros(outFeatures, rank, dtype, device));
        using (torch.no_grad()) nn.init.kaiming_uniform_(a, Math.Sqrt(5));
        dropout = nn.Dropout(dropoutP);
        RegisterComponents();
    }

    /// <summary>Input features of the adapted projection.</summary>
    public int InFeatures { get; }
    /// <summary>Output features of the adapted projection.</summary>
    public int OutFeatures { get; }
    /// <summary>Rank r.</summary>
    public int Rank { get; }
    /// <summary>α.</summary>
    public double Alpha { get; }
    /// <summary>The output scale α / r.</summary>
    public double Scale { get; }
    /// <summary>Dropout probability applied to the adapter's input in training mode.</summary>
    public double DropoutP { get; }
    /// <summary>The down projection A [r, in].</summary>
    public Parameter A => a;
    /// <summary>The up projection B [out, r].</summary>
    public Parameter B => b;
    /// <summary>Whether <see cref="DeltaWeight"/> is currently folded into the base weight (the adapter then outputs zeros).</summary>
    public bool Merged { get; private set; }

    /// <summary>ΔW = α/r · B A, shape [out, in] (differentiable).</summary>
    public Tensor DeltaWeight() => b.matmul(a).mul(Scale);

    /// <summary>x [..., in] → x Aᵀ Bᵀ · α/r [..., out]; zeros while merged.</summary>
    public override Tensor forward(Tensor x)
    {
        if (Merged)
        {
            var shape = x.shape.ToArray();
            shape[^1] = OutFeatures;
            return torch.zeros(shape, x.dtype, x.device);
        }
        var h = DropoutP > 0 ? dropout.forward(x) : x;
        return F.linear(F.linear(h, a), b).mul(Scale);                 // (..., r) → (..., out)
    }

    /// <summary>
    /// Folds ΔW into <paramref name="weight"/> (the adapted projection's [out, in] weight) and switches the adapter off.
    /// No-op when already merged. Throws <see cref="InvalidOperationException"/> (leaving the weight untouched) when the
    /// merged weight would be non-finite.
    /// </summary>
    public void Merge(Tensor weight)
    {
        if (Merged) return;
        CheckShape(weight);
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var merged = weight + DeltaWeight().to(weight.dtype);
        if (!merged.isfinite().all().item<bool>())
            throw new InvalidOperationException("LoRA merge would produce non-finite weights (the adapter has diverged); not merged");
        weight.copy_(merged);
        Merged = true;
    }

    /// <summary>Inverse of <see cref="Merge"/>: subtracts ΔW from <paramref name="weight"/> and switches the adapter back on. No-op when not merged.</summary>
    public void Unmerge(Tensor weight)
    {
        if (!Merged) return;
        CheckShape(weight);
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        weight.sub_(DeltaWeight().to(weight.dtype));
        Merged = false;
    }

    void CheckShape(Tensor weight)
    {
        if (weight.dim() != 2 || weight.shape[0] != OutFeatures || weight.shape[1] != InFeatures)
            throw new ArgumentException($"weight has shape [{string.Join(", ", weight.shape)}] but the adapter is for [{OutFeatures}, {InFeatures}]");
    }
}
