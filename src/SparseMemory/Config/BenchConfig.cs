namespace SparseMemory.Config;

/// <summary>
/// <c>smf bench</c>: which benchmark runs on which model (docs/benchmarks.md). By default the step time of every
/// finetuning method (the method table); <see cref="Decode"/> times generation, <see cref="Paths"/> one method's training
/// kernels, and <see cref="Quick"/> or <see cref="Suite"/> the whole performance suite. Built like every verb's config
/// (defaults → <c>--config</c> → flags → <c>--set</c>, unknown keys are errors) and frozen beside <c>--out</c>
/// (<see cref="ConfigLoader.FrozenName"/>). The ranges of the timing settings are checked by the benchmark that uses
/// them (Benchmarks namespace), once.
/// </summary>
public sealed record BenchConfig
{
    /// <summary>Pretraining preset of the model timed (a fresh model on random tokens), and of its seed, threads and the
    /// suite's pretraining-step shape (<c>--preset</c>).</summary>
    public string BasePreset { get; init; } = "base";
    /// <summary>Keys of that pretraining config set over the preset, as a partial pretraining config (e.g.
    /// <c>{"model": {"memory": {"num_keys": 64}}}</c>).</summary>
    public ConfigOverlay<PretrainConfig> Base { get; init; } = new();
    /// <summary>Time this checkpoint and its real finetuning batches instead of a fresh model (<c>--model</c>).</summary>
    public string? Model { get; init; }
    /// <summary>Facts for <see cref="Model"/>: embedded set name or facts file (<c>--data</c>).</summary>
    public string Data { get; init; } = "new";
    /// <summary>Run the whole suite, short (<c>--quick</c>).</summary>
    public bool Quick { get; init; }
    /// <summary>Run the whole suite (<c>--suite</c>).</summary>
    public bool Suite { get; init; }
    /// <summary>Time text generation instead: new tokens per row (0 = off; <c>--decode</c>).</summary>
    public int Decode { get; init; }
    /// <summary>Time one method with the optimised training kernels off, on and each alone (<c>--paths</c>); null = off.</summary>
    public string? Paths { get; init; }
    /// <summary>Sequences per step; null = the benchmark's default (<c>--batch-size</c>).</summary>
    public int? BatchSize { get; init; }
    /// <summary>Tokens per sequence; null = the benchmark's default (<c>--seq-len</c>).</summary>
    public int? SeqLen { get; init; }
    /// <summary>Timed steps per method and round; null = the benchmark's default (<c>--steps</c>).</summary>
    public int? Steps { get; init; }
    /// <summary>Untimed warm-up steps per method and round; null = the benchmark's default (<c>--warmup</c>).</summary>
    public int? Warmup { get; init; }
    /// <summary>t of the sparse methods; null = the benchmark's default (<c>--top-t</c>).</summary>
    public int? TopT { get; init; }
    /// <summary>Rounds; null = the benchmark's default (<c>--rounds</c>).</summary>
    public int? Rounds { get; init; }
    /// <summary>With <see cref="Decode"/>: prompt tokens of the longest row; null = the benchmark's default (<c>--prompt-len</c>).</summary>
    public int? PromptLen { get; init; }
    /// <summary>With <see cref="Decode"/>: prompts decoded together; null = the benchmark's default (<c>--rows</c>).</summary>
    public int? Rows { get; init; }
    /// <summary>Suite: discarded warm-up rounds; null = the suite's default (<c>--warmup-rounds</c>).</summary>
    public int? WarmupRounds { get; init; }
    /// <summary>Suite: N of the memory-size scenarios (N² slots each); null = the suite's default (<c>--memory-keys</c>).</summary>
    public int[]? MemoryKeys { get; init; }

    /// <summary>Whether the whole suite runs.</summary>
    public bool IsSuite => Quick || Suite;

    /// <summary>Which benchmarks and settings go together (the timing ranges are checked by the benchmarks).</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (string.IsNullOrWhiteSpace(BasePreset)) e.Add("base_preset must name a pretraining preset (--preset)");
        if (string.IsNullOrWhiteSpace(Data)) e.Add("data must name a fact set or file (--data)");
        if (Decode < 0) e.Add($"decode must be ≥ 0 (0 = off), got {Decode} (--decode)");
        if (IsSuite && (Decode != 0 || Paths is not null))
            e.Add("decode and paths (--decode, --paths) are separate benchmarks: drop quick and suite (--quick, --suite; the suite has its own generation scenario)");
        if (Decode != 0 && Paths is not null) e.Add("decode and paths are separate benchmarks: give one of them (--decode or --paths)");
        if (!IsSuite && (WarmupRounds is not null || MemoryKeys is not null))
            e.Add("warmup_rounds and memory_keys belong to the suite: add quick or suite (--warmup-rounds and --memory-keys need --quick or --suite)");
        if (Decode == 0 && (PromptLen is not null || Rows is not null)) e.Add("prompt_len and rows belong to decode (--prompt-len and --rows need --decode)");
        if (MemoryKeys is { Length: 0 }) e.Add("memory_keys must list at least one N (or be left out)");
        return e;
    }
}
