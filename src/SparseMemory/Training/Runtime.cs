using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>Process-wide torch settings: seed, threads, device.</summary>
public static class Runtime
{
    /// <summary>Seeds torch and sets the thread count (0 keeps the library default).</summary>
    public static void Configure(int seed, int threads)
    {
        if (threads > 0) torch.set_num_threads(threads);
        torch.manual_seed(seed);
    }

    /// <summary>Parses a device string; asking for CUDA where it is unavailable is a clear error.</summary>
    public static Device Device(string name)
    {
        if (name.StartsWith("cuda", StringComparison.Ordinal) && !torch.cuda.is_available())
            throw new InvalidOperationException($"device \"{name}\" requested but CUDA is not available in this build (TorchSharp CPU libtorch); use --set device=cpu or reference a CUDA libtorch package");
        return torch.device(name);
    }
}
