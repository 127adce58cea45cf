using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using SparseMemory.Hosting;
using TorchSharp;

namespace SparseMemory.Benchmarks;

/// <summary>
/// What a benchmark number depends on besides the code: threads, the libtorch build (version, BLAS, CPU capability,
/// OpenMP), the CPU, the load of the machine, and the thread-related environment variables.
/// </summary>
public static class BenchEnvironment
{
    /// <summary>The description as a JSON object (absent facts are left out).</summary>
    public static JsonObject Describe()
    {
        var o = new JsonObject
        {
            ["threads"] = torch.get_num_threads(),
            ["interop_threads"] = torch.get_num_interop_threads(),
            ["processor_count"] = Environment.ProcessorCount,
            ["torch_version"] = torch.__version__,
            ["torchsharp_version"] = typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0]
                                     ?? typeof(torch).Assembly.GetName().Version?.ToString(),
            ["dotnet"] = RuntimeInformation.FrameworkDescription,
            ["os"] = RuntimeInformation.OSDescription,
        };
        if (CpuModel() is { } cpu) o["cpu_model"] = cpu;
        if (LoadAverage() is { } load) o["load_average_at_start"] = load;
        var config = LibTorchString("_ZN2at11show_configB5cxx11Ev");              // at::show_config()
        if (config is not null)
        {
            if (Field(config, "TORCH_VERSION=") is { } version) o["torch_version"] = version;   // torch.__version__ reads 2.10.0.0
            if (Field(config, "BLAS_INFO=") is { } blas) o["blas"] = blas;
            if (Field(config, "LAPACK_INFO=") is { } lapack) o["lapack"] = lapack;
            if (config.Split('\n').FirstOrDefault(l => l.Contains("CPU capability usage:")) is { } cap) o["cpu_capability"] = cap.Split(':', 2)[1].Trim();
        }
        if (MklVersion() is { } mkl) o["mkl_version"] = mkl;
        if (config is not null) o["libtorch_config"] = Lines(config);
        if (LibTorchString("_ZN2at17get_parallel_infoB5cxx11Ev") is { } parallel) o["parallel_info"] = Lines(parallel);   // at::get_parallel_info()
        var env = new JsonObject();
        foreach (string k in new[] { "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "SMF_OMP_SPIN", "SMF_MALLOC", "SMF_MALLOC_TUNING", "LD_PRELOAD", "DOTNET_gcServer", "DOTNET_gcConcurrent" })
            if (Environment.GetEnvironmentVariable(k) is { } v) env[k] = v;
        o["environment_variables"] = env;
        o["native_defaults"] = NativeDefaults.Summary;
        var native = new JsonObject();                       // what libgomp and the loader see (can differ from .NET's copy)
        foreach (string k in new[] { "GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "LD_PRELOAD" })
            if (NativeDefaults.NativeEnvironmentVariable(k) is { } v) native[k] = v;
        o["native_environment"] = native;
        return o;
    }

    /// <summary>The 1-, 5- and 15-minute load averages (Linux), or null.</summary>
    public static JsonArray? LoadAverage()
    {
        try
        {
            if (!File.Exists("/proc/loadavg")) return null;
            var parts = File.ReadAllText("/proc/loadavg").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return new JsonArray(parts.Take(3).Select(p => (JsonNode)JsonValue.Create(double.Parse(p, System.Globalization.CultureInfo.InvariantCulture))).ToArray());
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { return null; }
    }

    static string? CpuModel()
    {
        try
        {
            if (!File.Exists("/proc/cpuinfo")) return null;
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    static JsonArray Lines(string s) => new(s.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).Select(l => (JsonNode)JsonValue.Create(l)).ToArray());

    static string? Field(string config, string key)
    {
        int i = config.IndexOf(key, StringComparison.Ordinal);
        if (i < 0) return null;
        int start = i + key.Length, end = config.IndexOfAny([',', '\n', ' '], start);
        return config[start..(end < 0 ? config.Length : end)];
    }

    static IntPtr LibTorchCpu()
    {
        // Already loaded by TorchSharp: dlopen by soname returns that handle.
        if (NativeLibrary.TryLoad("libtorch_cpu.so", out var h)) return h;
        string path = Path.Combine(AppContext.BaseDirectory, "libtorch_cpu.so");
        return File.Exists(path) && NativeLibrary.TryLoad(path, out h) ? h : IntPtr.Zero;
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate void MklVersionString(IntPtr buffer, int length);

    /// <summary>MKL's version string, when libtorch carries MKL (the official CPU builds link it statically).</summary>
    static string? MklVersion()
    {
        if (!OperatingSystem.IsLinux()) return null;
        var lib = LibTorchCpu();
        if (lib == IntPtr.Zero || !NativeLibrary.TryGetExport(lib, "MKL_Get_Version_String", out var fn)) return null;
        var buf = Marshal.AllocHGlobal(256);
        try
        {
            Marshal.GetDelegateForFunctionPointer<MklVersionString>(fn)(buf, 256);
            return Marshal.PtrToStringUTF8(buf)?.Trim();
        }
        finally { Marshal.FreeHGlobal(buf); }
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate IntPtr ReturnsStdString(IntPtr result);

    /// <summary>
    /// Calls a libtorch function <c>std::string f()</c> (libstdc++'s C++11 ABI on x86-64 Linux: the 32-byte string is
    /// returned through a hidden first pointer argument; it holds the data pointer and the length). Only where that ABI
    /// holds; null elsewhere or when the symbol is absent. The string's heap buffer (a few KB, once per run) is not freed.
    /// </summary>
    static string? LibTorchString(string symbol)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return null;
        var lib = LibTorchCpu();
        if (lib == IntPtr.Zero || !NativeLibrary.TryGetExport(lib, symbol, out var fn)) return null;
        var result = Marshal.AllocHGlobal(64);
        try
        {
            Marshal.GetDelegateForFunctionPointer<ReturnsStdString>(fn)(result);
            var data = Marshal.ReadIntPtr(result);
            long length = Marshal.ReadInt64(result, 8);
            if (data == IntPtr.Zero || length < 0 || length > 1 << 20) return null;
            return Marshal.PtrToStringUTF8(data, (int)length);
        }
        finally { Marshal.FreeHGlobal(result); }
    }
}
