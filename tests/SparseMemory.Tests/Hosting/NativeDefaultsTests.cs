using System.Text.Json.Nodes;
using SparseMemory.Tests.Reliability;
using SparseMemory.Hosting;
using Xunit;

namespace SparseMemory.Tests.Hosting;

/// <summary>
/// The start-up native settings (docs/pitfalls.md#openmp-contention): the plan derived from the environment, and — in a
/// real smf process — what libgomp and the loader then see.
/// </summary>
public sealed class NativeDefaultsTests
{
    static readonly string[] Ours = ["GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "SMF_OMP_SPIN", "SMF_MALLOC", "SMF_MALLOC_TUNING", "LD_PRELOAD", NativeDefaults.PreloadMarker];

    static NativeDefaults.Plan Plan(params (string Key, string Value)[] env) =>
        NativeDefaults.PlanFor(k => env.FirstOrDefault(e => e.Key == k).Value);

    [Fact]
    public void Without_settings_the_spin_count_and_allocator_are_the_defaults()
    {
        var p = Plan();
        Assert.Equal(NativeDefaults.DefaultSpinCount, p.SpinCount);
        Assert.Equal(NativeDefaults.DefaultMalloc, p.Malloc);
    }

    [Fact]
    public void The_users_OpenMP_settings_win()
    {
        Assert.Null(Plan(("GOMP_SPINCOUNT", "5")).SpinCount);
        Assert.Null(Plan(("OMP_WAIT_POLICY", "PASSIVE")).SpinCount);
        Assert.Null(Plan(("SMF_OMP_SPIN", "off")).SpinCount);
        Assert.Equal(250, Plan(("SMF_OMP_SPIN", "250")).SpinCount);
        Assert.Contains("user", Plan(("GOMP_SPINCOUNT", "5")).SpinNote);
    }

    [Fact]
    public void Allocator_policies_and_the_old_switch()
    {
        foreach (string policy in NativeDefaults.MallocPolicies) Assert.Equal(policy, Plan(("SMF_MALLOC", policy)).Malloc);
        Assert.Equal("mmap", Plan(("SMF_MALLOC_TUNING", "1")).Malloc);
        Assert.Equal("glibc", Plan(("SMF_MALLOC_TUNING", "1"), ("SMF_MALLOC", "glibc")).Malloc);
    }

    [Theory]
    [InlineData("SMF_OMP_SPIN", "-3")]
    [InlineData("SMF_OMP_SPIN", "lots")]
    [InlineData("SMF_MALLOC", "tcmalloc")]
    public void Bad_values_name_the_variable(string key, string value)
    {
        var e = Assert.Throws<ArgumentException>(() => Plan((key, value)));
        Assert.Contains(key, e.Message);
        Assert.Contains(value, e.Message);
    }

    static JsonObject Info(Dictionary<string, string> env)
    {
        var r = SmfProcess.Run(["info"], env, unset: Ours);
        Assert.True(r.Code == 0, r.Err);
        return JsonNode.Parse(r.Out)!.AsObject();
    }

    [Fact]
    public void An_smf_process_hands_the_spin_count_to_libgomp_and_preloads_mimalloc_when_asked_and_installed()
    {
        var info = Info(new());
        Assert.Equal(NativeDefaults.DefaultSpinCount.ToString(), (string?)info["native_environment"]!["GOMP_SPINCOUNT"]);
        Assert.Contains($"malloc={NativeDefaults.DefaultMalloc}", (string)info["native_defaults"]!);

        var mi = Info(new() { ["SMF_MALLOC"] = "mimalloc" });
        string summary = (string)mi["native_defaults"]!;
        if (NativeDefaults.LibraryDirs.Any(d => File.Exists(Path.Combine(d, "libmimalloc.so.2"))))
        {
            Assert.Contains("libmimalloc.so.2", (string?)mi["native_environment"]!["LD_PRELOAD"] ?? "");
            Assert.Contains("malloc=mimalloc", summary);
            Assert.Contains("(smf default)", summary);                  // the restarted process did not mistake our spin count for the user's
        }
        else Assert.Contains("not found", summary);                     // goes on with glibc and says why

        var user = Info(new() { ["GOMP_SPINCOUNT"] = "4321", ["SMF_MALLOC"] = "glibc" });
        Assert.Equal("4321", (string?)user["native_environment"]!["GOMP_SPINCOUNT"]);
        Assert.Null(user["native_environment"]!["LD_PRELOAD"]);
        Assert.Contains("malloc=glibc", (string)user["native_defaults"]!);
    }

    [Fact]
    public void A_bad_setting_stops_smf_with_a_message_naming_it()
    {
        var r = SmfProcess.Run(["info"], new Dictionary<string, string> { ["SMF_MALLOC"] = "tcmalloc" }, unset: Ours);
        Assert.Equal(2, r.Code);
        Assert.Contains("SMF_MALLOC", r.Err);
    }
}
