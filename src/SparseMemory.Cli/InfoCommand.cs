using System.CommandLine;
using SparseMemory.Benchmarks;

namespace SparseMemory.Cli;

/// <summary><c>smf info</c>: what this process runs on — threads, libtorch build, CPU, and the native settings chosen at start-up.</summary>
public static class InfoCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var cmd = new Command("info", "Print the runtime environment as JSON: threads, libtorch build and BLAS, CPU, load, the OpenMP spin and allocator chosen at start-up (docs/pitfalls.md#native-memory)");
        cmd.SetAction(_ =>
        {
            Console.WriteLine(SparseMemory.Checkpoints.ResultFile.Text(BenchEnvironment.Describe()));
            return 0;
        });
        return cmd;
    }
}
