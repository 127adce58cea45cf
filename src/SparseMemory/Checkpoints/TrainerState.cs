namespace SparseMemory.Training;

/// <summary>Progress of a run, written with each checkpoint (<c>trainer_state.json</c>).</summary>
public sealed record TrainerState
{
    /// <summary>Optimizer steps completed.</summary>
    public int Step { get; init; }
    /// <summary>Total steps of the run.</summary>
    public int TotalSteps { get; init; }
    /// <summary>Training method name.</summary>
    public string Method { get; init; } = "";
    /// <summary>True once the last step is done.</summary>
    public bool Completed { get; init; }
    /// <summary>Tokens seen so far.</summary>
    public long Tokens { get; init; }
}
