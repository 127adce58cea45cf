using SparseMemory.Config;
using SparseMemory.Training;

namespace SparseMemory.Finetuning;

/// <summary>
/// The full-finetuning baseline: every parameter with AdamW at a constant lr (<see cref="FullTraining"/>), clipped at
/// norm 1; the memory value table lazily (only rows the batch read move) unless <c>full_value_update</c> is <c>dense</c>.
/// </summary>
public static class FullFinetuning
{
    /// <summary>Registry entry (see <see cref="FinetuneMethods"/>).</summary>
    public static readonly FinetuneMethodSpec Spec = new(
        Name: "full",
        Description: "baseline: every parameter, AdamW",
        DefaultLr: 1e-4,
        ClipGradNorm: 1.0,
        NeedsMemoryLayer: false,
        NeedsBackground: _ => false,
        Trains: (_, _) => true,
        Label: _ => "full (AdamW)",
        Create: (cfg, lr, _) => new FullTraining(lr, cfg.FullWeightDecay, lr, cfg.FullWeightDecay, LrSchedule.Constant,
            lazyValues: ValueUpdates.IsLazy(cfg.FullValueUpdate)));
}
