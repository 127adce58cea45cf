namespace SparseMemory.Config;

/// <summary>
/// Switches of the optimised training kernels, each against the plain reference it replaces (docs/architecture.md,
/// "A cheaper training step"). A value, not process state: each model carries its own (<c>LanguageModel.FastPaths</c>,
/// all on by default), so a benchmark times one model with the reference kernels and another with the fast ones
/// (<c>smf bench --paths</c>) and tests compare both settings, without either touching the other.
/// </summary>
public sealed record FastPaths
{
    /// <summary>
    /// Output projection and cross-entropy in row chunks with the gradient formed on the way
    /// (<c>Model.OutputLoss.Chunked</c>) instead of [tokens, V] logits kept for backward.
    /// </summary>
    public bool ChunkedOutputLoss { get; init; } = true;

    /// <summary>
    /// The memory read's backward (table and per-read weight gradients) in one managed pass split by value row
    /// (<c>Memory.ValueRead</c>, CPU) instead of libtorch's EmbeddingBag backward.
    /// </summary>
    public bool ManagedValueBackward { get; init; } = true;

    /// <summary>Every fast path on (the default).</summary>
    public static FastPaths On { get; } = new();

    /// <summary>Every fast path off: the plain reference kernels.</summary>
    public static FastPaths Reference { get; } = new() { ChunkedOutputLoss = false, ManagedValueBackward = false };

    /// <summary>Every switch by name (snake_case, as <c>smf bench --paths</c> reports it), for benchmarks and tests.</summary>
    public static IReadOnlyList<(string Name, Func<FastPaths, bool> Get, Func<FastPaths, bool, FastPaths> With)> All { get; } =
    [
        ("chunked_output_loss", p => p.ChunkedOutputLoss, (p, v) => p with { ChunkedOutputLoss = v }),
        ("managed_value_backward", p => p.ManagedValueBackward, (p, v) => p with { ManagedValueBackward = v }),
    ];

    /// <summary>The reference kernels with only the switch named <paramref name="name"/> on.</summary>
    public static FastPaths Only(string name) =>
        All.FirstOrDefault(s => s.Name == name) is { Name: not null } s
            ? s.With(Reference, true)
            : throw new ArgumentException($"unknown fast path '{name}'; known: {string.Join(", ", All.Select(x => x.Name))}");
}
