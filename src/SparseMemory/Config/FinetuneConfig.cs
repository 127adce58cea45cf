using SparseMemory.Finetuning;

namespace SparseMemory.Config;

/// <summary>Which parameters a finetuning run may change.</summary>
public enum FinetuneMethodKind
{
    /// <summary>Sparse memory finetuning: top-t value rows per step (Lin et al. 2025).</summary>
    Sparse,
    /// <summary>Ablation: every value row the batch read.</summary>
    MemoryAll,
    /// <summary>Baseline: every parameter, AdamW.</summary>
    Full,
    /// <summary>Baseline: low-rank adapters on attention and FFN projections, AdamW.</summary>
    Lora,
}

/// <summary>
/// A finetuning run on a stream of facts: one fact (a batch of its paraphrases) per step. The <see cref="Model"/>
/// section is copied from the base checkpoint so the run folder is itself a loadable checkpoint.
/// </summary>
public sealed record FinetuneConfig
{
    /// <summary>Run name.</summary>
    public string Name { get; init; } = "finetune";
    /// <summary>Seed of paraphrase sampling, adapters and the random ranker.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Torch device.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Torch threads (0 = default).</summary>
    public int Threads { get; init; } = 0;
    /// <summary>The checkpoint folder to start from.</summary>
    public string BaseModel { get; init; } = "";
    /// <summary>Architecture (filled from the base checkpoint; must not be changed).</summary>
    public ModelConfig? Model { get; init; }
    /// <summary>What may change.</summary>
    public FinetuneMethodKind Method { get; init; } = FinetuneMethodKind.Sparse;
    /// <summary>Learning rate; null = the method's default (see <see cref="DefaultLr"/>).</summary>
    public double? Lr { get; init; }
    /// <summary>Optimizer steps; 0 = one pass over the stream (facts × steps_per_item).</summary>
    public int Steps { get; init; } = 0;
    /// <summary>The stream.</summary>
    public StreamConfig Data { get; init; } = new();
    /// <summary>Sparse-memory settings (methods sparse and memory-all).</summary>
    public SparseConfig Sparse { get; init; } = new();
    /// <summary>LoRA settings.</summary>
    public LoraConfig Lora { get; init; } = new();
    /// <summary>Weight decay of the full-finetuning baseline (AdamW).</summary>
    public double FullWeightDecay { get; init; } = 0.1;
    /// <summary>Probes run at step 0, every eval_every steps and at the end (see <c>smf eval</c>); target-f1 scores the facts of the stream.</summary>
    public string[] Probes { get; init; } = ["target-f1", "known-facts-f1"];
    /// <summary>Items per probe (0 = all); a fixed seeded subset, the same at every evaluation.</summary>
    public int ProbeLimit { get; init; } = 200;
    /// <summary>Metrics row cadence.</summary>
    public int LogEvery { get; init; } = 1;
    /// <summary>Probe cadence in steps (0 = only at the start and end).</summary>
    public int EvalEvery { get; init; } = 0;
    /// <summary>Checkpoint cadence.</summary>
    public int CheckpointEvery { get; init; } = 100;

    /// <summary>Default learning rates per method, from the sweep recorded in the README.</summary>
    public static double DefaultLr(FinetuneMethodKind method) => method switch
    {
        FinetuneMethodKind.Sparse => 100.0,
        FinetuneMethodKind.MemoryAll => 100.0,
        FinetuneMethodKind.Full => 1e-4,
        FinetuneMethodKind.Lora => 1e-3,
        _ => throw new ArgumentOutOfRangeException(nameof(method)),
    };

    /// <summary>The lr in effect.</summary>
    public double EffectiveLr => Lr ?? DefaultLr(Method);

    /// <summary>All problems at once.</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (string.IsNullOrWhiteSpace(BaseModel)) e.Add("base_model must name a checkpoint folder (--model DIR)");
        if (Lr is { } lr && !(lr > 0)) e.Add($"lr must be positive, got {lr}");
        if (Steps < 0) e.Add($"steps must be ≥ 0, got {Steps}");
        if (LogEvery <= 0 || CheckpointEvery <= 0 || EvalEvery < 0) e.Add("log_every and checkpoint_every must be positive, eval_every ≥ 0");
        Data.Validate(e, "data");
        if (Method is FinetuneMethodKind.Sparse or FinetuneMethodKind.MemoryAll) Sparse.Validate(e, "sparse");
        if (Method == FinetuneMethodKind.Lora) Lora.Validate(e, "lora");
        if (FullWeightDecay < 0) e.Add("full_weight_decay must be ≥ 0");
        if (ProbeLimit < 0) e.Add("probe_limit must be ≥ 0 (0 = all items)");
        foreach (string p in Probes.Where(p => SparseMemory.Evaluation.Probes.ProbeRegistry.Find(p) is null))
            e.Add($"probes: unknown probe '{p}'; known: {string.Join(", ", SparseMemory.Evaluation.Probes.ProbeRegistry.Names)}");
        if (Model is not null) { Model.Validate(e, "model"); if (Method is FinetuneMethodKind.Sparse or FinetuneMethodKind.MemoryAll && Model.Memory is null) e.Add("method sparse/memory-all needs a model with a memory layer"); }
        return e;
    }
}

/// <summary>The fact stream.</summary>
public sealed record StreamConfig
{
    /// <summary>"new" / "known" (embedded sets) or a facts JSONL file.</summary>
    public string Facts { get; init; } = "new";
    /// <summary>Stream the facts in a seeded random order (fact files are stored sorted by id, i.e. grouped by relation).</summary>
    public bool Shuffle { get; init; } = true;
    /// <summary>Use only the first N facts of the stream (after shuffling; 0 = all).</summary>
    public int Limit { get; init; } = 0;
    /// <summary>Paraphrases per fact = batch size (the paper: 64).</summary>
    public int Paraphrases { get; init; } = 16;
    /// <summary>Optimizer steps spent on each fact.</summary>
    public int StepsPerItem { get; init; } = 1;
    /// <summary>Allow the question form in training text.</summary>
    public bool AllowQuestionForm { get; init; } = false;

    internal void Validate(List<string> e, string p)
    {
        if (string.IsNullOrWhiteSpace(Facts)) e.Add($"{p}.facts must name a fact set or file");
        if (Limit < 0) e.Add($"{p}.limit must be ≥ 0");
        if (Paraphrases <= 0) e.Add($"{p}.paraphrases must be positive");
        if (StepsPerItem <= 0) e.Add($"{p}.steps_per_item must be positive");
    }
}

/// <summary>Sparse memory finetuning settings.</summary>
public sealed record SparseConfig
{
    /// <summary>t: value rows updated per step.</summary>
    public int TopT { get; init; } = 512;
    /// <summary>Slot ranking.</summary>
    public SlotRankerKind Ranker { get; init; } = SlotRankerKind.TfIdf;
    /// <summary>Row update rule.</summary>
    public SparseOptimizer Optimizer { get; init; } = SparseOptimizer.Sgd;
    /// <summary>Weight decay (AdamW variant only; selected rows only).</summary>
    public double WeightDecay { get; init; } = 0;
    /// <summary>Background statistics file; null = <c>background.safetensors</c> in the base checkpoint.</summary>
    public string? Background { get; init; }
    /// <summary>Never select zero-score (zero-IDF) slots.</summary>
    public bool ExcludeZeroIdf { get; init; } = false;

    internal void Validate(List<string> e, string p)
    {
        if (TopT <= 0) e.Add($"{p}.top_t must be ≥ 1, got {TopT} (--top-t)");
        if (WeightDecay < 0) e.Add($"{p}.weight_decay must be ≥ 0");
        if (Optimizer == SparseOptimizer.Sgd && WeightDecay != 0) e.Add($"{p}.weight_decay needs optimizer adam_w (plain SGD here has none, so unselected rows cannot move)");
    }
}

/// <summary>LoRA settings.</summary>
public sealed record LoraConfig
{
    /// <summary>Adapter rank r.</summary>
    public int Rank { get; init; } = 8;
    /// <summary>Scale numerator α (scale = α / r).</summary>
    public double Alpha { get; init; } = 16;
    /// <summary>Adapt attention projections.</summary>
    public bool Attention { get; init; } = true;
    /// <summary>Adapt dense FFN projections.</summary>
    public bool FeedForward { get; init; } = true;
    /// <summary>AdamW weight decay of the adapters.</summary>
    public double WeightDecay { get; init; } = 0.1;

    internal void Validate(List<string> e, string p)
    {
        if (Rank <= 0) e.Add($"{p}.rank must be positive");
        if (!(Alpha > 0)) e.Add($"{p}.alpha must be positive");
        if (!Attention && !FeedForward) e.Add($"{p}: adapt attention, feed_forward or both");
        if (WeightDecay < 0) e.Add($"{p}.weight_decay must be ≥ 0");
    }
}
