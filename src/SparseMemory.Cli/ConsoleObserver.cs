using SparseMemory.Training;

namespace SparseMemory.Cli;

/// <summary>Progress on stderr: a live bar on a terminal, plain lines when redirected (CI logs).</summary>
public sealed class ConsoleObserver(int plainEvery = 10) : ITrainingObserver
{
    readonly bool _tty = !Console.IsErrorRedirected;
    bool _barShown;

    /// <inheritdoc/>
    public void OnStep(StepReport r)
    {
        string line = $"step {r.Step}/{r.TotalSteps}  loss {r.Loss:F4}  {r.TokensPerSecond:N0} tok/s  elapsed {Fmt(r.Elapsed)}  ETA {Fmt(r.Eta)}";
        if (_tty)
        {
            int width = 24, filled = (int)Math.Round(width * (double)r.Step / r.TotalSteps);
            Console.Error.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {line}   ");
            _barShown = true;
        }
        else if (r.Step % plainEvery == 0 || r.Step == r.TotalSteps)
            Console.Error.WriteLine(line);
    }

    /// <inheritdoc/>
    public void OnEval(int step, IReadOnlyDictionary<string, double> metrics) =>
        Say($"eval @ step {step}: " + string.Join("  ", metrics.Select(kv => $"{kv.Key} {kv.Value:F4}")));

    /// <inheritdoc/>
    public void OnMessage(string message) => Say(message);

    void Say(string s)
    {
        if (_barShown) { Console.Error.WriteLine(); _barShown = false; }
        Console.Error.WriteLine(s);
    }

    static string Fmt(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"m\:ss");
}
