namespace SparseMemory.Config;

/// <summary>
/// <c>smf retrofit</c>: product-key memory layers added beside the FFN of chosen blocks of a pretrained (e.g. imported)
/// model, healed on background text with the backbone frozen, then background statistics for sparse finetuning.
/// Flow as every config: defaults → <c>--preset</c> (<c>presets/retrofit/*.json</c>) → <c>--config</c> → options and
/// <c>--set</c> → validated → frozen as the run folder's <c>config.json</c>.
/// </summary>
public sealed record RetrofitConfig
{
    /// <summary>The backbone run folder (absolute; set by the job from <c>--model</c>).</summary>
    public string Backbone { get; init; } = "";
    /// <summary>SHA-256 of the backbone's <c>model.safetensors</c> (set by the job): the origin of every weight but the memory's.</summary>
    public string BackboneSha256 { get; init; } = "";
    /// <summary>Seed of the memory's initialisation and of the healing batches.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Torch device: "cpu", "cuda", "cuda:1", …</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Torch intra-op threads (0 = library default).</summary>
    public int Threads { get; init; } = 0;
    /// <summary>The memory layers to insert.</summary>
    public RetrofitMemory Retrofit { get; init; } = new();
    /// <summary>Healing: the memory trains on background text, everything else frozen.</summary>
    public HealConfig Heal { get; init; } = new();
    /// <summary>Background statistics computed at the end (for <c>smf finetune --method sparse</c>).</summary>
    public RetrofitBackground Background { get; init; } = new();
    /// <summary>The background text (healing and statistics); the embedded corpus by default.</summary>
    public DataConfig Data { get; init; } = new();
    /// <summary>The resulting architecture: the backbone's with <see cref="ModelConfig.Memory"/> set (filled by the job; leave unset).</summary>
    public ModelConfig? Model { get; init; }

    /// <summary>All problems at once (empty when valid); the model section is checked by the job.</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (Threads < 0) e.Add($"threads must be ≥ 0, got {Threads}");
        if (!(Device == "cpu" || Device.StartsWith("cuda", StringComparison.Ordinal) || Device == "mps"))
            e.Add($"device must be cpu, cuda, cuda:N or mps, got \"{Device}\"");
        Retrofit.Validate(e, "retrofit");
        Heal.Validate(e, "heal");
        Background.Validate(e, "background");
        Data.Validate(e, "data");
        return e;
    }
}

/// <summary>The memory layers <c>smf retrofit</c> inserts (<see cref="MemoryConfig"/>, parallel to the FFN).</summary>
public sealed record RetrofitMemory
{
    /// <summary>0-based blocks that get a memory beside their FFN (<c>--memory-layers 12,18</c>); all share one value table.</summary>
    public int[] Layers { get; init; } = [];
    /// <summary>Slots S = N² (<c>--slots</c>); a perfect square.</summary>
    public long Slots { get; init; } = 262_144;
    /// <summary>Memory heads H.</summary>
    public int Heads { get; init; } = 4;
    /// <summary>Slots read per head K.</summary>
    public int TopK { get; init; } = 32;
    /// <summary>Full key dim Dk.</summary>
    public int KeyDim { get; init; } = 128;
    /// <summary>Value dim Dv; −1 = the model dim.</summary>
    public int ValueDim { get; init; } = -1;
    /// <summary>Memory+ SiLU gate.</summary>
    public bool Gated { get; init; } = true;

    /// <summary>N = √S when S is a perfect square, else null.</summary>
    public int? NumKeys()
    {
        long n = (long)Math.Round(Math.Sqrt(Slots));
        return n >= 2 && n * n == Slots && n <= int.MaxValue ? (int)n : null;
    }

    /// <summary>The memory section of the retrofitted model.</summary>
    public MemoryConfig ToMemory() => new()
    {
        Layers = Layers, NumKeys = NumKeys() ?? 0, Heads = Heads, TopK = TopK, KeyDim = KeyDim, ValueDim = ValueDim, Gated = Gated, Parallel = true,
    };

    internal void Validate(List<string> e, string prefix)
    {
        if (Layers.Length == 0) e.Add($"{prefix}.layers must name at least one block (--memory-layers 12,18)");
        if (NumKeys() is null) e.Add($"{prefix}.slots must be a perfect square N² with N ≥ 2 (e.g. 65536 = 256², 262144 = 512², 1048576 = 1024²), got {Slots}");
    }
}

/// <summary>Healing the inserted memory: AdamW on the memory's parameters only, the value table lazily, on background text.</summary>
public sealed record HealConfig
{
    /// <summary>Optimizer steps; 0 writes the model right after insertion (its logits equal the backbone's bit for bit).</summary>
    public int Steps { get; init; } = 500;
    /// <summary>Sequences per step.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Tokens per sequence (≤ model.max_seq_len).</summary>
    public int SeqLen { get; init; } = 128;
    /// <summary>Peak lr of the memory's query, keys, gate and output projection.</summary>
    public double Lr { get; init; } = 1e-3;
    /// <summary>Fixed lr of the value table.</summary>
    public double ValueLr { get; init; } = 1e-3;
    /// <summary>Linear warmup steps.</summary>
    public int WarmupSteps { get; init; } = 50;
    /// <summary>Cosine floor as a fraction of <see cref="Lr"/>.</summary>
    public double MinLrRatio { get; init; } = 0.1;
    /// <summary>Gradient-norm clip (values clipped separately); 0 disables.</summary>
    public double GradClip { get; init; } = 1.0;
    /// <summary>Held-out evaluation every this many steps (and at step 0 and the end).</summary>
    public int EvalEvery { get; init; } = 100;
    /// <summary>Held-out batches per evaluation.</summary>
    public int EvalBatches { get; init; } = 4;
    /// <summary>Checkpoint every this many steps (and at the end).</summary>
    public int CheckpointEvery { get; init; } = 100;
    /// <summary>Metrics row every this many steps.</summary>
    public int LogEvery { get; init; } = 10;
    /// <summary>
    /// After healing, the value table and the output projections are rescaled (the function unchanged) so the memory's
    /// mean read gain on the held-out healing text equals this; sparse finetuning's default learning rate assumes it
    /// (docs/own-model.md#read-gain). 0 keeps the healed scale.
    /// </summary>
    public double ReadGain { get; init; } = DefaultReadGain;

    /// <summary>The read gain of the native <c>learner-split</c> model on its held-out pretraining text (3.06), rounded (docs/own-model.md#read-gain).</summary>
    public const double DefaultReadGain = 3.0;

    /// <summary>The loop settings (β1 0.9, β2 0.95, ε 1e-8 as pretraining).</summary>
    public TrainConfig ToTrain() => new()
    {
        Steps = Math.Max(Steps, 1), BatchSize = BatchSize, SeqLen = SeqLen, Lr = Lr, ValueLr = ValueLr, WarmupSteps = WarmupSteps,
        MinLrRatio = MinLrRatio, GradClip = GradClip, EvalEvery = EvalEvery, EvalBatches = EvalBatches, CheckpointEvery = CheckpointEvery,
        LogEvery = LogEvery,
    };

    internal void Validate(List<string> e, string prefix)
    {
        if (Steps < 0 || Steps > TrainConfig.MaxSteps) e.Add($"{prefix}.steps must be in 0..{TrainConfig.MaxSteps:N0}, got {Steps:N0}");
        if (BatchSize <= 0) e.Add($"{prefix}.batch_size must be positive, got {BatchSize}");
        if (SeqLen <= 1) e.Add($"{prefix}.seq_len must be ≥ 2, got {SeqLen}");
        if (!(Lr > 0) || double.IsInfinity(Lr)) e.Add($"{prefix}.lr must be a finite positive number, got {Lr}");
        if (!(ValueLr > 0) || double.IsInfinity(ValueLr)) e.Add($"{prefix}.value_lr must be a finite positive number, got {ValueLr}");
        if (WarmupSteps < 0) e.Add($"{prefix}.warmup_steps must be ≥ 0");
        if (MinLrRatio < 0 || MinLrRatio > 1) e.Add($"{prefix}.min_lr_ratio must be in [0, 1]");
        if (GradClip < 0) e.Add($"{prefix}.grad_clip must be ≥ 0 (0 disables)");
        if (EvalEvery <= 0 || EvalBatches <= 0) e.Add($"{prefix}.eval_every and eval_batches must be positive");
        if (CheckpointEvery <= 0) e.Add($"{prefix}.checkpoint_every must be positive");
        if (LogEvery <= 0) e.Add($"{prefix}.log_every must be positive");
        if (!(ReadGain >= 0) || double.IsInfinity(ReadGain)) e.Add($"{prefix}.read_gain must be a finite number ≥ 0 (0 keeps the healed scale), got {ReadGain}");
    }
}

/// <summary>Background statistics of the retrofitted memory (as <c>smf background</c>).</summary>
public sealed record RetrofitBackground
{
    /// <summary>Batches |B|; 0 skips the statistics (sparse finetuning then needs <c>smf background</c> first).</summary>
    public int Batches { get; init; } = 1000;
    /// <summary>Sequences per batch.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Tokens per sequence.</summary>
    public int SeqLen { get; init; } = 32;

    internal void Validate(List<string> e, string prefix)
    {
        if (Batches < 0) e.Add($"{prefix}.batches must be ≥ 0, got {Batches}");
        if (BatchSize <= 0) e.Add($"{prefix}.batch_size must be positive, got {BatchSize}");
        if (SeqLen <= 1) e.Add($"{prefix}.seq_len must be ≥ 2, got {SeqLen}");
    }
}
