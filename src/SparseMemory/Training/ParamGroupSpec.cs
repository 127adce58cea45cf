using TorchSharp.Modules;

namespace SparseMemory.Training;

/// <summary>How a group's learning rate evolves over the run.</summary>
public enum LrSchedule
{
    /// <summary>The base lr at every step.</summary>
    Constant,
    /// <summary>Linear warmup then cosine decay to min_lr_ratio × lr.</summary>
    WarmupCosine,
}

/// <summary>An explicit optimizer parameter group (no settings hung on tensors; docs/pitfalls.md#explicit-parameter-groups).</summary>
/// <param name="Name">Group name used in logs (e.g. "values", "decay", "no_decay").</param>
/// <param name="Parameters">The parameters of the group.</param>
/// <param name="Lr">Base learning rate.</param>
/// <param name="WeightDecay">Decoupled weight decay.</param>
/// <param name="Schedule">Learning-rate schedule.</param>
/// <param name="ClipSeparately">Clip this group's gradient norm on its own (Meta clips values separately).</param>
public sealed record ParamGroupSpec(string Name, IReadOnlyList<Parameter> Parameters, double Lr, double WeightDecay,
    LrSchedule Schedule, bool ClipSeparately = false);

/// <summary>Learning-rate schedule arithmetic.</summary>
public static class LrScheduleMath
{
    /// <summary>The lr multiplier at <paramref name="step"/> of <paramref name="total"/> steps.</summary>
    public static double Factor(LrSchedule schedule, int step, int total, int warmup, double minRatio)
    {
        if (schedule == LrSchedule.Constant) return 1.0;
        if (warmup > 0 && step < warmup) return (step + 1.0) / warmup;
        double span = Math.Max(1, total - warmup);
        double progress = Math.Clamp((step - warmup) / span, 0, 1);
        return minRatio + (1 - minRatio) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}
