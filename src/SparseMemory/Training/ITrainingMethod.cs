using SparseMemory.Data;
using SparseMemory.Memory;
using SparseMemory.Model;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>What a training step exposes to the method between backward and the optimizer step.</summary>
/// <param name="Step">0-based optimizer step.</param>
/// <param name="Model">The model.</param>
/// <param name="Batch">The step's batch (on the device).</param>
/// <param name="AccessLog">Memory reads of this step's forward pass (when the method asked for them).</param>
/// <param name="Metrics">Extra metrics the method wants in this step's metrics row.</param>
public sealed record StepContext(int Step, LanguageModel Model, TrainingBatch Batch, MemoryAccessLog? AccessLog, IDictionary<string, double> Metrics)
{
    /// <summary>
    /// The memory value rows this step's update will write, set by a method that updates rows sparsely in
    /// <see cref="ITrainingMethod.AfterBackward"/> (sorted by rank); null when the method did not name them (a dense
    /// update). The service reads it before the update to keep the old values (docs/serve.md).
    /// </summary>
    public long[]? RowsToUpdate { get; set; }
}

/// <summary>
/// A training method plugs into the one trainer. It may only: prepare the model once, declare optimizer groups,
/// change gradients between backward and step, and say whether it needs memory reads. The trainer has no
/// method-specific code.
/// </summary>
public interface ITrainingMethod
{
    /// <summary>Short name used in configs and reports.</summary>
    string Name { get; }

    /// <summary>Freeze parameters, attach adapters, … (called once, before the optimizer is built).</summary>
    void Prepare(LanguageModel model);

    /// <summary>The optimizer groups (AdamW unless <see cref="CreateOptimizer"/> supplies another optimizer).</summary>
    IReadOnlyList<ParamGroupSpec> ParameterGroups(LanguageModel model);

    /// <summary>Whether the trainer should record memory reads for <see cref="AfterBackward"/>.</summary>
    bool NeedsAccessLog => false;

    /// <summary>Called after backward, before clipping and the optimizer step.</summary>
    void AfterBackward(StepContext context) { }

    /// <summary>
    /// An optimizer with its own update rule, or null for the default (<see cref="TorchStepOptimizer"/> over
    /// <see cref="ParameterGroups"/>: AdamW).
    /// </summary>
    IStepOptimizer? CreateOptimizer(IReadOnlyList<ParamGroupSpec> groups, LoopSettings loop) => null;

    /// <summary>The weights written to <c>model.safetensors</c> (a plain model; e.g. LoRA exports merged weights).</summary>
    IEnumerable<(string Name, Tensor Tensor)> ExportWeights(LanguageModel model) =>
        model.state_dict().Select(kv => (kv.Key, kv.Value));

    /// <summary>
    /// Tensors that, together with the run's starting checkpoint, restore training state on resume; null means the
    /// exported weights themselves are that state (they are loaded back into the model).
    /// </summary>
    IReadOnlyList<(string Name, Tensor Tensor)>? TrainableState(LanguageModel model) => null;
}
