using SparseMemory.Training;

namespace SparseMemory.Cli;

/// <summary>
/// Progress for a long command whose own output is the story (<c>smf demo</c>): the terminal gets the progress bar and
/// one line per stage (messages that start a run, a base model or background statistics); every message and every
/// evaluation line goes to <paramref name="logPath"/>, appended and flushed as it happens.
/// </summary>
/// <remarks>
/// Lines are held in memory until <see cref="Open"/>: the run folder refuses to adopt a non-empty folder without its
/// config, so the log file may be created only once the run has made its folder.
/// </remarks>
public sealed class LogFileObserver(string logPath, ITrainingObserver terminal) : ITrainingObserver, IDisposable
{
    StreamWriter? _log;
    readonly List<string> _pending = [];

    /// <summary>Creates (or appends to) the log file and writes the lines held so far.</summary>
    public void Open()
    {
        if (_log is not null) return;
        _log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        foreach (var line in _pending) _log.WriteLine(line);
        _pending.Clear();
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

    void Write(string line)
    {
        var stamped = $"{DateTime.UtcNow:HH:mm:ss} {line}";
        if (_log is null) _pending.Add(stamped); else _log.WriteLine(stamped);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_log is null && _pending.Count > 0 && Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(logPath)))) Open();
        _log?.Dispose();
    }
}
