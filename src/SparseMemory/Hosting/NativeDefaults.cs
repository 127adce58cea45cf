using System.Globalization;
using System.Runtime.InteropServices;

namespace SparseMemory.Hosting;

/// <summary>
/// Process-wide native settings that must be in place before libtorch is loaded: how idle OpenMP threads wait (two
/// processes on a small machine) and which allocator serves libtorch's tensors (RSS over a long run). Executables call
/// <see cref="Apply"/> as their first statement. The measurements behind the defaults are in docs/pitfalls.md
/// (#openmp-contention, #glibc-malloc-rss-growth). Linux/glibc only; a no-op elsewhere.
/// <list type="bullet">
/// <item><b>OpenMP spin.</b> libtorch's bundled GNU OpenMP lets an idle worker spin 300,000 iterations before it sleeps.
/// With two busy processes on two cores the spinning threads take the cores from the working ones (4–11× slower
/// measured). Unless the user set <c>GOMP_SPINCOUNT</c> or <c>OMP_WAIT_POLICY</c>, <c>GOMP_SPINCOUNT</c> is set to
/// <see cref="DefaultSpinCount"/>; <c>SMF_OMP_SPIN=N</c> chooses another count, <c>SMF_OMP_SPIN=off</c> keeps libgomp's.</item>
/// <item><b>Allocator</b>, <c>SMF_MALLOC</c>: <c>glibc</c> (the default: changes nothing); <c>mimalloc</c> (flat RSS, 5–18%
/// slower) / <c>jemalloc</c> restart the process once with the
/// library in <c>LD_PRELOAD</c> (Debian packages libmimalloc2.0 / libjemalloc2; when it is not installed the process
/// goes on with glibc and says so in <see cref="Summary"/>); <c>trim</c> returns free heap pages every
/// <see cref="TrimPeriod"/> (<c>malloc_trim(0)</c> on a timer); <c>mmap</c> fixes glibc's mmap threshold at 1 MiB
/// (flattest, slowest). <c>SMF_MALLOC_TUNING=1</c> is the older name of <c>mmap</c>.</item>
/// </list>
/// </summary>
public static partial class NativeDefaults
{
    /// <summary>The GNU OpenMP spin count set when the user set none (libgomp's own default: 300,000).</summary>
    public const int DefaultSpinCount = 1_000;

    /// <summary>The allocator policy when <c>SMF_MALLOC</c> is unset.</summary>
    public const string DefaultMalloc = "glibc";

    /// <summary>The allocator policies <c>SMF_MALLOC</c> accepts.</summary>
    public static readonly string[] MallocPolicies = ["glibc", "mimalloc", "jemalloc", "trim", "mmap"];

    /// <summary>How often the <c>trim</c> allocator policy returns free heap pages.</summary>
    public static readonly TimeSpan TrimPeriod = TimeSpan.FromSeconds(5);

    /// <summary>Marks the restarted process, so that a preload that did not take effect never loops.</summary>
    public const string PreloadMarker = "SMF_MALLOC_PRELOADED";

    /// <summary>Where a preloadable allocator's shared library is looked for, in order.</summary>
    public static readonly string[] LibraryDirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"];

    static readonly Dictionary<string, string> PreloadLibraries = new() { ["mimalloc"] = "libmimalloc.so.2", ["jemalloc"] = "libjemalloc.so.2" };

    /// <summary>What <see cref="Apply"/> chose, e.g. <c>GOMP_SPINCOUNT=1000 (smf default); malloc=mimalloc (…)</c>.</summary>
    public static string Summary { get; private set; } = "not applied";

    /// <summary>The settings derived from an environment.</summary>
    /// <param name="SpinCount">The <c>GOMP_SPINCOUNT</c> to set, or null to leave the environment alone.</param>
    /// <param name="SpinNote">How the spin setting came about, for <see cref="Summary"/>.</param>
    /// <param name="Malloc">One of <see cref="MallocPolicies"/>.</param>
    public sealed record Plan(int? SpinCount, string SpinNote, string Malloc);

    /// <summary>The plan for an environment (a pure function, tested); bad values are <see cref="ArgumentException"/>s naming the variable.</summary>
    public static Plan PlanFor(Func<string, string?> env)
    {
        int? spin = null;
        string note;
        if (env("GOMP_SPINCOUNT") is { } own) note = $"GOMP_SPINCOUNT={own} (user)";
        else if (env("OMP_WAIT_POLICY") is { } policy) note = $"OMP_WAIT_POLICY={policy} (user)";
        else if (env("SMF_OMP_SPIN") is not { } choice) { spin = DefaultSpinCount; note = $"GOMP_SPINCOUNT={DefaultSpinCount} (smf default)"; }
        else if (string.Equals(choice, "off", StringComparison.OrdinalIgnoreCase)) note = "libgomp default spin (SMF_OMP_SPIN=off)";
        else if (int.TryParse(choice, NumberStyles.None, CultureInfo.InvariantCulture, out int n)) { spin = n; note = $"GOMP_SPINCOUNT={n} (SMF_OMP_SPIN)"; }
        else throw new ArgumentException($"environment variable SMF_OMP_SPIN=\"{choice}\": expected a non-negative spin count (e.g. 1000) or \"off\"");

        string malloc = env("SMF_MALLOC") ?? (env("SMF_MALLOC_TUNING") == "1" ? "mmap" : DefaultMalloc);
        if (!MallocPolicies.Contains(malloc))
            throw new ArgumentException($"environment variable SMF_MALLOC=\"{malloc}\": expected one of {string.Join(", ", MallocPolicies)} (default {DefaultMalloc})");
        return new Plan(spin, note, malloc);
    }

    /// <summary>
    /// Applies the plan for this process's environment; call before the first torch call. For a preloading allocator it
    /// may replace the process (same arguments, the library added to <c>LD_PRELOAD</c>); <paramref name="args"/> are the
    /// program's arguments.
    /// </summary>
    public static void Apply(string[] args)
    {
        if (!OperatingSystem.IsLinux()) { Summary = "defaults (not Linux)"; return; }
        var plan = PlanFor(Environment.GetEnvironmentVariable);
        try
        {
            // The native environment is what libgomp reads when it loads (and what a restarted process inherits);
            // .NET's Environment.SetEnvironmentVariable does not change it on Unix.
            // The allocator first: a restart must not see our spin count as the user's.
            string malloc = ApplyMalloc(plan.Malloc, args);
            if (plan.SpinCount is int n) SetEnv("GOMP_SPINCOUNT", n.ToString(CultureInfo.InvariantCulture), 1);
            Summary = $"{plan.SpinNote}; malloc={malloc}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { Summary = "defaults (no glibc)"; }
    }

    static string ApplyMalloc(string policy, string[] args)
    {
        switch (policy)
        {
            case "glibc":
                return policy;
            case "mmap":
                MallOpt(M_MMAP_THRESHOLD, 1 << 20);
                return policy;
            case "trim":
                MallocTrim(0);
                _trimTimer ??= new Timer(_ => MallocTrim(0), null, TrimPeriod, TrimPeriod);
                return policy;
            default:
                string file = PreloadLibraries[policy];
                string preload = Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "";
                if (preload.Contains(file, StringComparison.Ordinal)) return $"{policy} (LD_PRELOAD)";
                if (Environment.GetEnvironmentVariable(PreloadMarker) is not null)
                    return $"glibc ({policy} was preloaded but is not in LD_PRELOAD now)";
                string? lib = LibraryDirs.Select(d => Path.Combine(d, file)).FirstOrDefault(File.Exists);
                if (lib is null) return $"glibc ({file} not found; install the Debian package lib{policy}{(policy == "mimalloc" ? "2.0" : "2")} or set SMF_MALLOC=glibc)";
                Restart(lib, preload, args);
                return $"glibc ({policy}: restart with LD_PRELOAD failed)";
        }
    }

    /// <summary>Replaces this process by itself with <paramref name="lib"/> preloaded; returns only when that fails.</summary>
    static void Restart(string lib, string preload, string[] args)
    {
        string? exe = Environment.ProcessPath;
        if (exe is null) return;
        var argv = new List<string?> { exe };
        // Run through the dotnet host (`dotnet smf.dll …`): the host needs the assembly path back.
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") argv.Add(Environment.GetCommandLineArgs()[0]);
        argv.AddRange(args);
        argv.Add(null);
        SetEnv("LD_PRELOAD", preload.Length == 0 ? lib : lib + ":" + preload, 1);
        SetEnv(PreloadMarker, "1", 1);
        Console.Out.Flush();
        ExecV(exe, argv.ToArray());
        UnsetEnv("LD_PRELOAD");                               // restore on failure: nothing else should inherit it half-done
        if (preload.Length > 0) SetEnv("LD_PRELOAD", preload, 1);
    }

    /// <summary>A variable of the native environment (what native libraries see), which can differ from .NET's copy.</summary>
    public static string? NativeEnvironmentVariable(string name)
    {
        if (!OperatingSystem.IsLinux()) return Environment.GetEnvironmentVariable(name);
        try { return Marshal.PtrToStringUTF8(GetEnv(name)); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return Environment.GetEnvironmentVariable(name); }
    }

    static Timer? _trimTimer;
    const int M_MMAP_THRESHOLD = -3;

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int param, int value);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "unsetenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int UnsetEnv(string name);

    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetEnv(string name);

    [LibraryImport("libc", EntryPoint = "execv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ExecV(string path, string?[] argv);
}
