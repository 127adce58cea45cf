namespace SparseMemory.Config;

/// <summary>
/// Switches of the optimised training kernels, each against the plain reference it replaces. All on by default; a
/// benchmark turns them off and on within one process (<c>smf bench --paths</c>) and tests compare both settings.
/// Process-wide, like torch's own settings: change them only while no model runs on another thread.
/// </summary>
public static class FastPaths
{
    /// <summary>
    /// Output projection and cross-entropy in row chunks with the gradient formed on the way
    /// (<c>Model.OutputLoss.Chunked</c>) instead of [tokens, V] logits kept for backward.
    /// </summary>
    public static bool ChunkedOutputLoss { get; set; } = true;

    /// <summary>
    /// The memory read's backward (table and per-read weight gradients) in one managed pass split by value row
    /// (<c>Memory.ValueRead</c>, CPU) instead of libtorch's EmbeddingBag backward.
    /// </summary>
    public static bool ManagedValueBackward { get; set; } = true;

    /// <summary>Every switch by name, for benchmarks and tests.</summary>
    public static IReadOnlyList<(string Name, Func<bool> Get, Action<bool> Set)> All { get; } =
    [
        ("chunked_output_loss", () => ChunkedOutputLoss, v => ChunkedOutputLoss = v),
        ("managed_value_backward", () => ManagedValueBackward, v => ManagedValueBackward = v),
    ];

    /// <summary>Sets every switch to <paramref name="on"/>, or only the named one when <paramref name="only"/> is given; returns a restorer.</summary>
    public static IDisposable Set(bool on, string? only = null)
    {
        var saved = All.Select(s => s.Get()).ToArray();
        foreach (var s in All) s.Set(only is null ? on : s.Name == only ? on : !on);
        return new Restore(saved);
    }

    sealed class Restore(bool[] saved) : IDisposable
    {
        public void Dispose() { for (int i = 0; i < saved.Length; i++) All[i].Set(saved[i]); }
    }
}
