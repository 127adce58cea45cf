using SparseMemory.Cli;

namespace SparseMemory.Tests;

/// <summary>Runs the smf command tree in-process with stdout and stderr captured.</summary>
internal static class Smf
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (o, e) = (Console.Out, Console.Error);
        var (so, se) = (new StringWriter(), new StringWriter());
        Console.SetOut(so); Console.SetError(se);
        try { return (CliRunner.Invoke(SmfApp.CreateRoot(), args), so.ToString(), se.ToString()); }
        finally { Console.SetOut(o); Console.SetError(e); }
    }
}
