using System.Runtime;
using SparseMemory.Training;
using Xunit;

namespace SparseMemory.Tests.Training;

public sealed class RuntimeGcTests
{
    [Fact]
    public void Runtime_configuration_leaves_no_background_gc()
    {
        // The test host is built with ConcurrentGarbageCollection=false (Directory.Build.props), like smf.
        Assert.NotEqual(GCLatencyMode.Interactive, GCSettings.LatencyMode);
        Runtime.Configure(1, 0);
        Assert.Equal(GCLatencyMode.Batch, GCSettings.LatencyMode);
    }

    [Fact]
    public void The_smf_executable_is_configured_without_concurrent_gc()
    {
        string config = Path.Combine(AppContext.BaseDirectory, "smf.runtimeconfig.json");
        Assert.True(File.Exists(config), $"{config} missing");
        Assert.Contains("\"System.GC.Concurrent\": false", File.ReadAllText(config));
    }
}
