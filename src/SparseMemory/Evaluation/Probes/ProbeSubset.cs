using SparseMemory.Config;

namespace SparseMemory.Evaluation.Probes;

/// <summary>Deterministic item subsets: the same list, limit, seed and key give the same items in every process.</summary>
public static class ProbeSubset
{
    /// <summary>
    /// All items when <paramref name="limit"/> is null or not smaller than the list; else a seeded sample of
    /// <paramref name="limit"/> items (seed mixed with a stable hash of <paramref name="key"/>), kept in list order.
    /// </summary>
    public static IReadOnlyList<T> Take<T>(IReadOnlyList<T> items, int? limit, int seed, string key)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (limit is not int n || n >= items.Count) return items;
        ArgumentOutOfRangeException.ThrowIfNegative(n, nameof(limit));
        var rng = new Random(SeedMix.Mix(seed, StableHash(key), items.Count));
        var order = Enumerable.Range(0, items.Count).ToArray();
        rng.Shuffle(order);
        return order.Take(n).Order().Select(i => items[i]).ToArray();
    }

    /// <summary>FNV-1a over the UTF-16 code units (string.GetHashCode is randomised per process).</summary>
    public static long StableHash(string key)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in key) { h ^= c; h *= 1099511628211UL; }
        return (long)(h >> 1);
    }
}
