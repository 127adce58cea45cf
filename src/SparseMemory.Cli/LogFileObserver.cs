using SparseMemory.Training;

namespace SparseMemory.Cli;

/// <summary>
/// Progress for a long command whose own output is the story (<c>smf demo</c>): the terminal gets the progress bar and
/// one line per stage (messages that start a run, a base model or background statistics); every message and every
/// evaluation line goes to <paramref name="logPath"/>, appended and flushed as it happens.
/// </summary>
public sealed class LogFileObserver(string logPath, ITrainingObserver terminal) : ITrainingObserver, IDisposable
{
    // Opened at the first line, not here: a run folder must still be as the user left it when the run checks it
    // (RunFolder.Prepare refuses a non-empty folder without config.json, and smf demo creates this observer first).
    StreamWriter? _log;

    static StreamWriter OpenLog(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return new StreamWriter(path, append: true) { AutoFlush = true };
    }

    /// <inheritdoc/>
    public void OnStep(StepReport report) => terminal.OnStep(report);

    /// <inheritdoc/>
    public void OnEval(int step, IReadOnlyDictionary<string, double> metrics) =>
        Write($"eval @ step {step}: " + string.Join("  ", metrics.Select(kv => $"{kv.Key} {kv.Value:F4}")));

    /// <inheritdoc/>
    public void OnMessage(string message)
    {
        Write(message);
        if (message.StartsWith("run ", StringComparison.Ordinal) || message.StartsWith("base model", StringComparison.Ordinal)
            || message.StartsWith("background statistics", StringComparison.Ordinal))
            terminal.OnMessage("   " + message);
    }

    void Write(string line) => (_log ??= OpenLog(logPath)).WriteLine($"{DateTime.UtcNow:HH:mm:ss} {line}");

    /// <inheritdoc/>
    public void Dispose() => _log?.Dispose();
}
