namespace SparseMemory.Training;

/// <summary>One step's numbers, for progress displays.</summary>
public sealed record StepReport(int Step, int TotalSteps, double Loss, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Eta);

/// <summary>Receives progress from the trainer (the library never writes to the console itself).</summary>
public interface ITrainingObserver
{
    /// <summary>After each optimizer step.</summary>
    void OnStep(StepReport report);
    /// <summary>After each held-out evaluation.</summary>
    void OnEval(int step, IReadOnlyDictionary<string, double> metrics);
    /// <summary>A human-readable message (resume, checkpoint, …).</summary>
    void OnMessage(string message);
}

/// <summary>Discards everything.</summary>
public sealed class NullObserver : ITrainingObserver
{
    /// <summary>Shared instance.</summary>
    public static readonly NullObserver Instance = new();
    /// <inheritdoc/>
    public void OnStep(StepReport report) { }
    /// <inheritdoc/>
    public void OnEval(int step, IReadOnlyDictionary<string, double> metrics) { }
    /// <inheritdoc/>
    public void OnMessage(string message) { }
}
