using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>Process-wide torch settings: seed, threads, device.</summary>
public static class Runtime
{
    /// <summary>
    /// Seeds torch, sets the thread count (0 keeps the library default) and turns background GC off for the process
    /// (<see cref="AvoidBackgroundGc"/>).
    /// </summary>
    public static void Configure(int seed, int threads)
    {
        AvoidBackgroundGc();
        if (threads > 0) torch.set_num_threads(threads);
        torch.manual_seed(seed);
    }

    /// <summary>
    /// Switches the GC to blocking (batch) collections. TorchSharp hands implicitly converted <c>Scalar</c>s to libtorch
    /// by raw handle without keeping them alive, so a background GC running during a native call can finalize one in
    /// use (intermittent "Expected false to be true … c10/core/Scalar.h" aborts). Our executables already set
    /// <c>ConcurrentGarbageCollection=false</c>; this covers applications that embed the library.
    /// </summary>
    public static void AvoidBackgroundGc()
    {
        if (System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.Interactive)
            System.Runtime.GCSettings.LatencyMode = System.Runtime.GCLatencyMode.Batch;
    }

    /// <summary>Whether <paramref name="name"/> is a device string: cpu, cuda, cuda:N or mps.</summary>
    public static bool IsDeviceName(string? name) =>
        name is "cpu" or "cuda" or "mps" || (name is not null && name.StartsWith("cuda:", StringComparison.Ordinal) && name.Length > 5 && name[5..].All(char.IsAsciiDigit));

    /// <summary>Parses a device string; asking for CUDA where it is unavailable is a clear error.</summary>
    public static Device Device(string name)
    {
        if (!IsDeviceName(name))
            throw new ArgumentException($"device \"{name}\" is not known; use cpu, cuda, cuda:N (a GPU index, e.g. cuda:1) or mps");
        if (name.StartsWith("cuda", StringComparison.Ordinal) && !torch.cuda.is_available())
            throw new InvalidOperationException($"device \"{name}\" requested but CUDA is not available in this build (TorchSharp CPU libtorch); use --set device=cpu or reference a CUDA libtorch package");
        return torch.device(name);
    }
}
