using System.Diagnostics;

namespace SparseMemory.Tests.Reliability;

/// <summary>Runs the built <c>smf</c> executable (copied next to the test assembly) as a child process.</summary>
internal static class SmfProcess
{
    /// <summary>Exit code of a process killed by SIGKILL, as .NET reports it (128 + 9).</summary>
    public const int KilledCode = 137;

    /// <summary>The result of one run; <c>KilledByTest</c> when the test killed it (<c>killAfter</c>).</summary>
    public sealed record Result(int Code, string Out, string Err, bool KilledByTest, TimeSpan Elapsed);

    static ProcessStartInfo StartInfo()
    {
        string dir = AppContext.BaseDirectory;
        string apphost = Path.Combine(dir, OperatingSystem.IsWindows() ? "smf.exe" : "smf");
        if (File.Exists(apphost)) return new ProcessStartInfo(apphost);
        string dll = Path.Combine(dir, "smf.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException($"smf is not next to the test assembly in {dir}; build the solution first", dll);
        var psi = new ProcessStartInfo("dotnet");
        psi.ArgumentList.Add(dll);
        return psi;
    }

    /// <summary>
    /// Runs smf with <paramref name="args"/>; with <paramref name="killAfter"/> it is killed (SIGKILL, whole tree) if still
    /// running then. A run longer than <paramref name="timeout"/> is killed and reported as a hang.
    /// </summary>
    public static Result Run(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, TimeSpan? killAfter = null, TimeSpan? timeout = null, IEnumerable<string>? unset = null)
    {
        var psi = StartInfo();
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.Environment.Remove("SMF_FAULT_POINT");
        foreach (string key in unset ?? []) psi.Environment.Remove(key);
        foreach (var (key, value) in env ?? new Dictionary<string, string>()) psi.Environment[key] = value;
        var (stdout, stderr) = (new System.Text.StringBuilder(), new System.Text.StringBuilder());
        var clock = Stopwatch.StartNew();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var limit = timeout ?? TimeSpan.FromSeconds(120);
        bool killed = false;
        if (killAfter is { } k && k < limit && !p.WaitForExit(k))
        {
            p.Kill(entireProcessTree: true);
            killed = true;
        }
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"smf {string.Join(' ', psi.ArgumentList)} did not finish within {limit.TotalSeconds} s (hang?)\n{stderr}");
        }
        p.WaitForExit();                                      // drain the output
        return new Result(p.ExitCode, stdout.ToString(), stderr.ToString(), killed, clock.Elapsed);
    }
}
