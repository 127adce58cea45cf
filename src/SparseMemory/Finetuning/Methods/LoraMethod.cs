using SparseMemory.Model;
using SparseMemory.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SparseMemory.Finetuning;

/// <summary>
/// The LoRA baseline (paper §3.5): every base parameter is frozen and a <see cref="LoraAdapter"/> is attached to each
/// targeted <see cref="Projection"/>; only the adapters train, with AdamW at a constant learning rate.
/// </summary>
/// <remarks>
/// <para>Checkpoints. While adapters are attached the state dict has extra entries such as
/// <c>layers.0.attention.wq.adapter.a</c>; the trainer's periodic checkpoints keep them so a run can resume (the
/// method re-attaches the adapters in <see cref="Prepare"/> before the weights are loaded). The intended <i>finetuned</i>
/// checkpoint is the merged model with the plain key set, loadable by <see cref="Checkpoints.Checkpoint.Load"/>:
/// call <see cref="MergeAndDetach"/> and then <see cref="Checkpoints.Checkpoint.SaveWeights"/>. Do not save a model whose
/// adapters are merged but still attached: the merged flag is not part of the state dict, so reloading it would apply
/// ΔW twice.</para>
/// <para>Adapters are created from the current torch RNG (A is Kaiming-uniform; B is zero): seed it first.</para>
/// </remarks>
public sealed class LoraMethod : ITrainingMethod
{
    /// <summary>Registry entry (see <see cref="FinetuneMethods"/>).</summary>
    public static readonly FinetuneMethodSpec Spec = new(
        Name: "lora",
        Description: "baseline: low-rank adapters on attention and dense-FFN projections, AdamW",
        DefaultLr: 1e-3,
        ClipGradNorm: 1.0,
        NeedsMemoryLayer: false,
        NeedsBackground: _ => false,
        Trains: (c, weight) => weight.EndsWith(".weight", StringComparison.Ordinal) && IsTarget(weight, TargetsOf(c.Lora)),
        Label: c => $"lora r={c.Lora.Rank} α={c.Lora.Alpha:G4} (AdamW)",
        Create: (c, lr, _) => new LoraMethod(c.Lora.Rank, c.Lora.Alpha, TargetsOf(c.Lora), lr, c.Lora.WeightDecay),
        Validate: (c, e) => c.Lora.Validate(e, "lora"));

    static LoraTargets TargetsOf(Config.LoraConfig c) => (c.Attention ? LoraTargets.Attention : 0) | (c.FeedForward ? LoraTargets.FeedForward : 0);

    readonly int _rank;
    readonly double _alpha;
    readonly LoraTargets _targets;
    readonly double _lr;
    readonly double _weightDecay;
    readonly double _dropout;

    /// <summary>LoRA with rank <paramref name="rank"/>, scale <paramref name="alpha"/>/rank, on <paramref name="targets"/>.</summary>
    public LoraMethod(int rank, double alpha, LoraTargets targets, double lr, double weightDecay, double dropout = 0.0)
    {
        if (rank <= 0) throw new ArgumentException($"LoRA rank must be positive (got {rank})", nameof(rank));
        if (!(alpha > 0) || double.IsInfinity(alpha)) throw new ArgumentException($"LoRA alpha must be positive and finite (got {alpha})", nameof(alpha));
        if (targets == LoraTargets.None || (targets & ~LoraTargets.All) != 0) throw new ArgumentException($"LoRA targets must be Attention, FeedForward or All (got {targets})", nameof(targets));
        if (!(lr >= 0) || double.IsInfinity(lr)) throw new ArgumentException($"LoRA learning rate must be ≥ 0 and finite (got {lr})", nameof(lr));
        if (!(weightDecay >= 0) || double.IsInfinity(weightDecay)) throw new ArgumentException($"LoRA weight decay must be ≥ 0 (got {weightDecay})", nameof(weightDecay));
        if (dropout is < 0 or >= 1 || double.IsNaN(dropout)) throw new ArgumentException($"LoRA dropout must be in [0, 1) (got {dropout})", nameof(dropout));
        (_rank, _alpha, _targets, _lr, _weightDecay, _dropout) = (rank, alpha, targets, lr, weightDecay, dropout);
    }

    /// <inheritdoc/>
    public string Name => "lora";

    /// <summary>Adapter rank r.</summary>
    public int Rank => _rank;
    /// <summary>α (the adapter output is scaled by α / r).</summary>
    public double Alpha => _alpha;
    /// <summary>Which projections are adapted.</summary>
    public LoraTargets Targets => _targets;

    /// <summary>Whether the projection with state-dict prefix <paramref name="name"/> (as in <see cref="LanguageModel.Projections"/>) is a target.</summary>
    public static bool IsTarget(string name, LoraTargets targets) =>
        (targets.HasFlag(LoraTargets.Attention) && name.Contains(".attention.", StringComparison.Ordinal))
        || (targets.HasFlag(LoraTargets.FeedForward) && name.Contains(".feed_forward.", StringComparison.Ordinal));

    /// <summary>Freezes every base parameter and attaches an adapter (matching the weight's dtype and device) to each target.</summary>
    public void Prepare(LanguageModel model)
    {
        foreach (var p in model.parameters()) p.requires_grad = false;
        int attached = 0;
        foreach (var (name, proj) in model.Projections)
        {
            if (!IsTarget(name, _targets)) continue;
            var w = proj.Weight;
            proj.AttachAdapter(new LoraAdapter(proj.InFeatures, proj.OutFeatures, _rank, _alpha, _dropout, w.dtype, w.device));
            attached++;
        }
        if (attached == 0) throw new InvalidOperationException($"LoRA targets {_targets} match no projection of this model");
    }

    /// <summary>One AdamW group with every adapter parameter (A and B), weight decay as configured, constant lr.</summary>
    public IReadOnlyList<ParamGroupSpec> ParameterGroups(LanguageModel model)
    {
        var ps = Adapters(model).SelectMany(x => new[] { x.Adapter.A, x.Adapter.B }).ToList();
        return [new ParamGroupSpec("lora", ps, _lr, _weightDecay, LrSchedule.Constant)];
    }

    /// <summary>
    /// <c>model.safetensors</c> of a LoRA run holds the MERGED weights (W + ΔW for every adapted projection) under the
    /// plain key set, so it loads as an ordinary checkpoint; the model itself is not modified.
    /// </summary>
    public IEnumerable<(string Name, Tensor Tensor)> ExportWeights(LanguageModel model)
    {
        var deltas = Adapters(model).ToDictionary(a => a.Name + ".weight", a => a.Adapter);
        foreach (var (name, t) in model.state_dict())
        {
            if (name.Contains(".adapter.", StringComparison.Ordinal)) continue;
            if (deltas.TryGetValue(name, out var adapter) && !adapter.Merged)
            {
                using var _ = torch.no_grad();
                yield return (name, t + adapter.DeltaWeight().to(t.dtype));
            }
            else yield return (name, t);
        }
    }

    /// <summary>The adapters (<c>trainable_state.safetensors</c>): with the base checkpoint they restore the run on resume.</summary>
    public IReadOnlyList<(string Name, Tensor Tensor)>? TrainableState(LanguageModel model) =>
        Adapters(model).SelectMany(a => new[] { (a.Name + ".adapter.a", (Tensor)a.Adapter.A), (a.Name + ".adapter.b", (Tensor)a.Adapter.B) }).ToList();

    /// <summary>Every projection that carries a <see cref="LoraAdapter"/>, with its state-dict prefix.</summary>
    public static IEnumerable<(string Name, Projection Projection, LoraAdapter Adapter)> Adapters(LanguageModel model) =>
        model.Projections.Where(p => p.Projection.Adapter is LoraAdapter)
            .Select(p => (p.Name, p.Projection, (LoraAdapter)p.Projection.Adapter!));

    /// <summary>W += ΔW for every adapted projection, switching the adapters off. Idempotent: merging again changes nothing.</summary>
    public static void Merge(LanguageModel model)
    {
        foreach (var (_, proj, adapter) in Adapters(model)) adapter.Merge(proj.Weight);
    }

    /// <summary>Inverse of <see cref="Merge"/> (exact up to float rounding): W −= ΔW and the adapters switch back on.</summary>
    public static void Unmerge(LanguageModel model)
    {
        foreach (var (_, proj, adapter) in Adapters(model)) adapter.Unmerge(proj.Weight);
    }

    /// <summary>
    /// Merges every adapter into its base weight and removes the adapters, leaving a plain model whose state dict has
    /// exactly the keys of a model that never had adapters; the finetuned LoRA checkpoint is written from this state.
    /// Returns the number of adapters merged. The adapters' parameters are disposed.
    /// </summary>
    public static int MergeAndDetach(LanguageModel model)
    {
        var adapters = Adapters(model).ToList();
        foreach (var (_, proj, adapter) in adapters) adapter.Merge(proj.Weight);
        foreach (var (_, proj, adapter) in adapters)
        {
            proj.DetachAdapter();
            adapter.Dispose();
        }
        return adapters.Count;
    }
}
