using SparseMemory.Data.Benchmarks;
using Xunit;

namespace SparseMemory.Tests.Benchmarks;

public sealed class BenchmarkPathsTests
{
    [Fact]
    public void Should_find_shared_benchmarks_walking_up_from_a_nested_directory()
    {
        using var temp = new TempFolder();
        var benchmarks = Directory.CreateDirectory(Path.Combine(temp.Path, "shared", "data", "benchmarks")).FullName;
        var nested = Directory.CreateDirectory(Path.Combine(temp.Path, "repo", "tests", "bin")).FullName;
        var found = BenchmarkPaths.Locate(null, null, nested);
        Assert.NotNull(found);
        Assert.Equal(benchmarks, found.Root);
        Assert.Equal(Path.Combine(benchmarks, "llmf", "triviaqa_sm_sub.jsonl"), found.TriviaQa);
    }

    [Fact]
    public void Should_prefer_explicit_root_then_environment_value()
    {
        using var temp = new TempFolder();
        var a = Directory.CreateDirectory(Path.Combine(temp.Path, "a")).FullName;
        var b = Directory.CreateDirectory(Path.Combine(temp.Path, "b")).FullName;
        Assert.Equal(a, BenchmarkPaths.Locate(a, b, temp.Path)!.Root);
        Assert.Equal(b, BenchmarkPaths.Locate(null, b, temp.Path)!.Root);
    }

    [Fact]
    public void Should_return_null_when_nothing_is_found()
    {
        using var temp = new TempFolder();
        Assert.Null(BenchmarkPaths.Locate(Path.Combine(temp.Path, "missing"), null, temp.Path));
        Assert.Null(BenchmarkPaths.Locate(null, null, temp.Path));
    }
}
