using System.Runtime;
using SparseMemory.Training;
using Xunit;

namespace SparseMemory.Tests.Training;

/// <summary>
/// Background GC stays off (<see cref="Runtime.AvoidBackgroundGc"/>). Independent of test order: nothing here reads a
/// GC state that an earlier <see cref="Runtime.Configure"/> call may already have changed.
/// </summary>
public sealed class RuntimeGcTests
{
    [Fact]
    public void The_test_host_is_configured_without_concurrent_gc()
    {
        // The test host is built with ConcurrentGarbageCollection=false (Directory.Build.props), like smf; read from the
        // runtime configuration rather than GCSettings.LatencyMode, which Runtime.Configure changes.
        Assert.Equal("false", AppContext.GetData("System.GC.Concurrent")?.ToString()?.ToLowerInvariant());
    }

    [Fact]
    public void Runtime_configuration_switches_an_interactive_gc_to_batch()
    {
        var before = GCSettings.LatencyMode;
        try
        {
            GCSettings.LatencyMode = GCLatencyMode.Interactive;          // the mode of a host with concurrent GC, whatever ran before
            Assert.Equal(GCLatencyMode.Interactive, GCSettings.LatencyMode);
            Runtime.Configure(1, 0);
            Assert.Equal(GCLatencyMode.Batch, GCSettings.LatencyMode);
        }
        finally
        {
            GCSettings.LatencyMode = before;
        }
    }

    [Fact]
    public void The_smf_executable_is_configured_without_concurrent_gc()
    {
        string config = Path.Combine(AppContext.BaseDirectory, "smf.runtimeconfig.json");
        Assert.True(File.Exists(config), $"{config} missing");
        Assert.Contains("\"System.GC.Concurrent\": false", File.ReadAllText(config));
    }
}
