namespace SparseMemory.Config;

/// <summary>
/// Deterministic seed derivation (SplitMix64 finaliser). Never use <see cref="HashCode"/> for seeds: it is randomised
/// per process, which would make "same seed → same numbers" fail across runs.
/// </summary>
public static class SeedMix
{
    /// <summary>A 31-bit seed derived from the parts.</summary>
    public static int Mix(params long[] parts)
    {
        ulong h = 0x9E3779B97F4A7C15UL;
        foreach (long p in parts)
        {
            h ^= (ulong)p + 0x9E3779B97F4A7C15UL + (h << 6) + (h >> 2);
            h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
            h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
            h ^= h >> 31;
        }
        return (int)(h & 0x7FFFFFFF);
    }
}
