namespace SparseMemory.Config;

/// <summary>
/// <c>smf eval</c>: which probes run on which checkpoint, and how. Built like every verb's config (defaults →
/// <c>--config</c> → flags → <c>--set</c>, unknown keys are errors) and frozen beside the results file
/// (<see cref="ConfigLoader.FrozenName"/>). Probe names are checked by the probe registry (Evaluation), which owns them.
/// </summary>
public sealed record EvalConfig
{
    /// <summary>Checkpoint folder (required; <c>--model</c>).</summary>
    public string? Model { get; init; }
    /// <summary>Probes to run, in order; null = every registered probe (<c>--probes a,b</c>).</summary>
    public string[]? Probes { get; init; }
    /// <summary>Items per probe (per paradigm for blimp, documents for heldout-nll), a fixed seeded sample; null = all.</summary>
    public int? Limit { get; init; }
    /// <summary>Add per-item rows (<c>details</c>) to each probe's line.</summary>
    public bool Details { get; init; }
    /// <summary>Seed of the <see cref="Limit"/> sample.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Benchmarks folder; null = <c>$SMF_BENCHMARKS</c> or <c>../shared/data/benchmarks</c>.</summary>
    public string? Benchmarks { get; init; }
    /// <summary>Facts for target-f1 (embedded set name or facts file); null = the probes' default set.</summary>
    public string? TargetFacts { get; init; }
    /// <summary>Facts for known-facts-f1 (embedded set name or facts file); null = the probes' default set.</summary>
    public string? KnownFacts { get; init; }
    /// <summary>Corpus file for heldout-nll; null = the held-out part of the checkpoint's pretraining corpus.</summary>
    public string? Heldout { get; init; }
    /// <summary>Sequences per forward pass for likelihood scoring; null = the scorer's default.</summary>
    public int? BatchSize { get; init; }
    /// <summary>Torch device: cpu, cuda, cuda:N or mps.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>
    /// Torch CPU threads (0 = library default). One by default: eval batches of tiny models are too small to gain from a
    /// second thread, and with another torch process on a 2-core machine two threads were measured 7-30x slower (spin contention).
    /// </summary>
    public int Threads { get; init; } = 1;
    /// <summary>Load a checkpoint whose weights hold NaN or infinity (to inspect it) instead of refusing it.</summary>
    public bool AllowNonFinite { get; init; }

    /// <summary>Every structural problem at once (probe names are checked by the probe registry).</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (string.IsNullOrWhiteSpace(Model)) e.Add("model is required: pass --model DIR or set \"model\" in --config");
        if (Probes is { Length: 0 }) e.Add("probes lists no probe (--probes); leave it unset for every probe");
        if (Limit is <= 0) e.Add($"limit must be positive, got {Limit} (--limit; leave it unset for every item)");
        if (BatchSize is <= 0) e.Add($"batch_size must be positive, got {BatchSize} (--batch-size)");
        if (Threads < 0) e.Add($"threads must be ≥ 0 (0 = library default), got {Threads} (--threads)");
        if (!Devices.IsValid(Device)) e.Add($"device must be {Devices.Choices}, got \"{Device}\" (--device)");
        return e;
    }
}

/// <summary>The torch device names a config accepts.</summary>
public static class Devices
{
    /// <summary>The accepted spellings, in words.</summary>
    public const string Choices = "cpu, cuda, cuda:N or mps";

    /// <summary>Whether <paramref name="device"/> names a torch device.</summary>
    public static bool IsValid(string? device) =>
        device is "cpu" or "mps" || (device is not null && device.StartsWith("cuda", StringComparison.Ordinal));
}
