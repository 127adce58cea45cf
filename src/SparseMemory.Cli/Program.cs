using SparseMemory.Cli;
using SparseMemory.Hosting;

// Before anything loads libtorch: OpenMP wait and allocator policy (docs/pitfalls.md#openmp-contention).
try { NativeDefaults.Apply(args); }
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
return CliRunner.Invoke(SmfApp.CreateRoot(), args);
