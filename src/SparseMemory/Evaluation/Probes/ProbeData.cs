using SparseMemory.Data.Benchmarks;
using SparseMemory.Data.Facts;

namespace SparseMemory.Evaluation.Probes;

/// <summary>Finds the data a probe needs, turning "not available" into <see cref="ProbeSkippedException"/>.</summary>
internal static class ProbeData
{
    /// <summary>The benchmarks folder, or a skip when it cannot be found.</summary>
    public static BenchmarkPaths Benchmarks(ProbeOptions options) =>
        BenchmarkPaths.LocateDefault(options.BenchmarksRoot)
        ?? throw new ProbeSkippedException(options.BenchmarksRoot is { } root
            ? $"benchmarks folder '{root}' not found"
            : $"benchmarks folder not found (set {BenchmarkPaths.EnvironmentVariable} or pass --benchmarks; expected ../shared/data/benchmarks)");

    /// <summary>A benchmark file that must exist, or a skip.</summary>
    public static string File(string path) =>
        System.IO.File.Exists(path) || Directory.Exists(path) ? path : throw new ProbeSkippedException($"benchmark file '{path}' not found");

    /// <summary>
    /// Reads a fact set by embedded name or path. A default set name that is not embedded in this build skips the
    /// probe (the sets are generated separately); an explicit name or path that cannot be read is an error.
    /// </summary>
    public static IReadOnlyList<Fact> Facts(string nameOrPath, string defaultName)
    {
        if (nameOrPath == defaultName && !FactsFile.EmbeddedNames.Contains(nameOrPath) && !System.IO.File.Exists(nameOrPath))
            throw new ProbeSkippedException($"fact set '{nameOrPath}' is not embedded in this build (pass a facts file)");
        return FactsFile.ReadNamedOrFile(nameOrPath);
    }
}
