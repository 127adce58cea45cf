using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>
/// What the trainer needs from an optimizer: groups (for the lr schedule and clipping), lr setting, step, zero_grad and
/// state persistence for resuming. Torch optimizers are wrapped by <see cref="TorchStepOptimizer"/>; a method with
/// its own update rule (e.g. row-sparse updates of the memory values) supplies another implementation.
/// </summary>
public interface IStepOptimizer : IDisposable
{
    /// <summary>The groups, in the order <see cref="SetLearningRate"/> indexes them.</summary>
    IReadOnlyList<ParamGroupSpec> Groups { get; }
    /// <summary>Sets the current lr of group <paramref name="group"/>.</summary>
    void SetLearningRate(int group, double lr);
    /// <summary>Applies one update.</summary>
    void Step();
    /// <summary>Clears gradients.</summary>
    void ZeroGrad();
    /// <summary>
    /// Gradients of group <paramref name="group"/> that this optimizer holds outside autograd (the row gradients of a
    /// value table updated row by row, <see cref="RowTableOptimizer"/>): the trainer clips them together with the
    /// group's parameter gradients and counts them in <c>grad_norm</c>. None by default.
    /// </summary>
    IReadOnlyList<Tensor> HeldGradients(int group) => [];
    /// <summary>
    /// The table this optimizer updates row by row and the rows this step updates (valid from <see cref="Step"/> to
    /// <see cref="ZeroGrad"/>), so the training step can check the rows it wrote (<see cref="DivergenceGuard"/>); null
    /// for an optimizer without a row list.
    /// </summary>
    (Tensor Table, long[] Rows)? UpdatedRows => null;
    /// <summary>
    /// Writes the optimizer state to <paramref name="destination"/> (the checkpoint layer decides where the bytes go:
    /// <see cref="SparseMemory.Checkpoints.TrainingCheckpoint"/> stages them as <c>optimizer.bin</c>).
    /// </summary>
    void Save(Stream destination);
    /// <summary>Restores the state <see cref="Save"/> wrote; <paramref name="origin"/> names the source in errors.</summary>
    void Load(Stream source, string origin);
}

/// <summary>AdamW over explicit parameter groups (β1, β2, ε from the loop settings; weight decay per group).</summary>
public sealed class TorchStepOptimizer : IStepOptimizer
{
    readonly OptimizerHelper _opt;

    /// <summary>Builds the optimizer.</summary>
    public TorchStepOptimizer(IReadOnlyList<ParamGroupSpec> groups, LoopSettings loop)
    {
        Groups = groups;
        _opt = torch.optim.AdamW(groups.Select(g => new AdamW.ParamGroup(g.Parameters, g.Lr, loop.Beta1, loop.Beta2, loop.Eps, g.WeightDecay, false, false)), groups[0].Lr);
    }

    /// <inheritdoc/>
    public IReadOnlyList<ParamGroupSpec> Groups { get; }
    /// <inheritdoc/>
    public void SetLearningRate(int group, double lr) => _opt.ParamGroups.ElementAt(group).LearningRate = lr;
    /// <inheritdoc/>
    public void Step() => _opt.step();
    /// <inheritdoc/>
    public void ZeroGrad() => _opt.zero_grad();
    /// <summary>Writes TorchSharp's optimizer state format (as <c>save_state_dict(path)</c> does) to <paramref name="destination"/>.</summary>
    public void Save(Stream destination)
    {
        using var w = new BinaryWriter(destination, new System.Text.UTF8Encoding(false), leaveOpen: true);
        _opt.save_state_dict(w);
        w.Flush();
    }

    /// <summary>Reads TorchSharp's optimizer state format; a file of another optimizer or shape is an <see cref="InvalidDataException"/>.</summary>
    public void Load(Stream source, string origin)
    {
        using var r = new BinaryReader(source, new System.Text.UTF8Encoding(false), leaveOpen: true);
        try { _opt.load_state_dict(r); }
        catch (Exception e) when (e is EndOfStreamException or ArgumentException or InvalidDataException)
        {
            throw new InvalidDataException($"{origin}: cannot restore the optimizer state ({e.Message}); the file is truncated, corrupt or from another run", e);
        }
    }
    /// <inheritdoc/>
    public void Dispose() { }
}
