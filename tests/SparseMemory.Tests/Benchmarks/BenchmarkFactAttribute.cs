using SparseMemory.Data.Benchmarks;
using Xunit;

namespace SparseMemory.Tests.Benchmarks;

/// <summary>
/// A fact that needs the real benchmark files; skipped when <c>../shared/data/benchmarks</c> cannot be found
/// (xunit 2.9 has no dynamic skip, so the decision is made when the attribute is constructed).
/// </summary>
public sealed class BenchmarkFactAttribute : FactAttribute
{
    public BenchmarkFactAttribute()
    {
        if (BenchmarkData.Paths is null) Skip = "benchmarks folder ../shared/data/benchmarks not found";
    }
}

/// <summary>The located benchmarks folder, shared by the tests.</summary>
public static class BenchmarkData
{
    public static BenchmarkPaths? Paths { get; } = BenchmarkPaths.LocateDefault();

    /// <summary>The folder; only call from a <see cref="BenchmarkFactAttribute"/> test.</summary>
    public static BenchmarkPaths Required => Paths ?? throw new InvalidOperationException("benchmarks folder not found");
}
