using System.Runtime.InteropServices;

namespace SparseMemory.Cli;

/// <summary>
/// glibc allocator settings for long training runs. libtorch allocates tensors with malloc; glibc's dynamic mmap
/// threshold then moves large, short-lived buffers onto the heap, which fragments and lets RSS grow by gigabytes
/// over a run (docs/pitfalls.md#glibc-malloc-rss-growth). A fixed 1 MiB threshold (which also switches the dynamic adjustment off) keeps
/// large buffers in mmap'd chunks that are returned on free.
/// <para>Opt-in with <c>SMF_MALLOC_TUNING=1</c>, because it costs speed. Measured on the base preset (D=128, 16k slots,
/// batch 32×128, 2 cores), same binary, step 75: 460 MB RSS at 2,480 tokens/s with the setting against about 1.5 GB
/// (3.3 GB peak over the whole 28-minute run) at 3,700 tokens/s without. Use it when memory, not time, is short.</para>
/// </summary>
internal static partial class NativeAllocator
{
    const int M_MMAP_THRESHOLD = -3;

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int param, int value);

    /// <summary>Applies the settings on Linux (glibc); a no-op elsewhere.</summary>
    public static void Configure()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("SMF_MALLOC_TUNING") != "1") return;
        try { MallOpt(M_MMAP_THRESHOLD, 1 << 20); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { /* not glibc */ }
    }
}
