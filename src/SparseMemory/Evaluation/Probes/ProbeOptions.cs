
namespace SparseMemory.Evaluation.Probes;

/// <summary>Settings shared by every probe.</summary>
public sealed record ProbeOptions
{
    /// <summary>Items per probe (per paradigm for BLiMP, documents for held-out NLL); null = all. The subset is a
    /// seeded sample that depends only on the item list, <see cref="Seed"/> and the probe name, so evaluations of
    /// different checkpoints see the same items.</summary>
    public int? Limit { get; init; }

    /// <summary>Seed of the subset sample.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Return one detail row per item in <see cref="ProbeResult.Details"/>.</summary>
    public bool Details { get; init; }

    /// <summary>Benchmarks folder; null = <see cref="Data.Benchmarks.BenchmarkPaths.LocateDefault"/> (env var or walk up
    /// to <c>shared/data/benchmarks</c>). A folder that does not exist makes the benchmark probes skip.</summary>
    public string? BenchmarksRoot { get; init; }

    /// <summary>Facts being learned (<c>target-f1</c>): an embedded set name or a facts file.</summary>
    public string TargetFacts { get; init; } = DefaultTargetFacts;

    /// <summary>Facts known from pretraining (<c>known-facts-f1</c>): an embedded set name or a facts file.</summary>
    public string KnownFacts { get; init; } = DefaultKnownFacts;

    /// <summary>Background text for <c>heldout-nll</c>: a corpus file whose documents are all used; null = the
    /// held-out documents of the checkpoint's own pretraining corpus (its config's <c>data</c> section).</summary>
    public string? HeldoutCorpus { get; init; }

    /// <summary>BLiMP paradigms; null = <see cref="BlimpProbe.DefaultParadigms"/>.</summary>
    public IReadOnlyList<string>? BlimpParadigms { get; init; }

    /// <summary>Windows per forward pass for likelihood scoring.</summary>
    public int BatchSize { get; init; } = LogLikelihood.DefaultBatchSize;

    /// <summary>Prompts per forward pass for greedy decoding.</summary>
    public int GenerateBatchSize { get; init; } = 64;

    /// <summary>Embedded set used by <c>target-f1</c> unless overridden.</summary>
    public const string DefaultTargetFacts = "new";

    /// <summary>Embedded set used by <c>known-facts-f1</c> unless overridden.</summary>
    public const string DefaultKnownFacts = "known";
}
