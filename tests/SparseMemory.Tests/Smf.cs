using SparseMemory.Cli;

namespace SparseMemory.Tests;

/// <summary>Runs the smf command tree in-process with stdout and stderr captured.</summary>
internal static class Smf
{
    /// <summary>
    /// Held while a test has the process's console redirected: Console.SetOut is process-wide, and xunit runs test
    /// classes in parallel, so without it one test's smf output could land in another test's capture.
    /// </summary>
    public static readonly object ConsoleLock = new();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        lock (ConsoleLock)
        {
            var (o, e) = (Console.Out, Console.Error);
            var (so, se) = (new StringWriter(), new StringWriter());
            Console.SetOut(so); Console.SetError(se);
            try { return (CliRunner.Invoke(SmfApp.CreateRoot(), args), so.ToString(), se.ToString()); }
            finally { Console.SetOut(o); Console.SetError(e); }
        }
    }
}
