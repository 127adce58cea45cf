namespace SparseMemory.Checkpoints;

/// <summary>
/// Progress of a training run, written with each checkpoint as <c>trainer_state.json</c> (snake_case JSON) and read back
/// when the run resumes (<see cref="TrainingCheckpoint"/>).
/// </summary>
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
