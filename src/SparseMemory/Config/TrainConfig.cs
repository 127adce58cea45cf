namespace SparseMemory.Config;

/// <summary>Pretraining loop settings: AdamW, warmup + cosine decay, clipping, eval and checkpoint cadence.</summary>
public sealed record TrainConfig
{
    /// <summary>
    /// Most optimizer steps a run may ask for: ten million, far beyond any run this CPU code can finish (the largest
    /// preset takes tens of thousands), and far below the int counters a mistyped value would overflow.
    /// </summary>
    public const int MaxSteps = 10_000_000;

    /// <summary>Optimizer steps.</summary>
    public int Steps { get; init; } = 1000;
    /// <summary>Sequences per step.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Tokens per sequence (≤ model.max_seq_len).</summary>
    public int SeqLen { get; init; } = 128;
    /// <summary>Peak learning rate of every parameter except the memory values.</summary>
    public double Lr { get; init; } = 2e-3;
    /// <summary>Fixed learning rate of the memory value table, in its own parameter group (Berges et al.: 1e-3).</summary>
    public double ValueLr { get; init; } = 1e-3;
    /// <summary>Decoupled weight decay of matrices (norm weights and biases get none).</summary>
    public double WeightDecay { get; init; } = 0.0;
    /// <summary>Weight decay of the memory value table (with lazy updates: applied to the rows read in a step only).</summary>
    public double ValueWeightDecay { get; init; } = 0.0;
    /// <summary>
    /// How the memory value table is updated: <c>lazy</c> (the default; only rows read in the step get a gradient,
    /// moments and an update) or <c>dense</c> (ordinary AdamW over the whole table every step). See <see cref="ValueUpdates"/>.
    /// </summary>
    public string ValueUpdate { get; init; } = ValueUpdates.Lazy;
    /// <summary>AdamW β1.</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>AdamW β2.</summary>
    public double Beta2 { get; init; } = 0.95;
    /// <summary>AdamW ε.</summary>
    public double Eps { get; init; } = 1e-8;
    /// <summary>Linear warmup steps.</summary>
    public int WarmupSteps { get; init; } = 100;
    /// <summary>Cosine decay floor as a fraction of the peak lr (values keep their fixed lr).</summary>
    public double MinLrRatio { get; init; } = 0.1;
    /// <summary>Global gradient-norm clip, applied separately to value and non-value parameters; 0 disables.</summary>
    public double GradClip { get; init; } = 1.0;
    /// <summary>Held-out evaluation every this many steps (and at step 0 and the end).</summary>
    public int EvalEvery { get; init; } = 100;
    /// <summary>Held-out batches per evaluation.</summary>
    public int EvalBatches { get; init; } = 8;
    /// <summary>Checkpoint every this many steps (and at the end).</summary>
    public int CheckpointEvery { get; init; } = 500;
    /// <summary>Write a metrics row every this many steps.</summary>
    public int LogEvery { get; init; } = 10;

    internal void Validate(List<string> errors, string prefix, ModelConfig model)
    {
        if (Steps <= 0 || Steps > MaxSteps) errors.Add($"{prefix}.steps must be in 1..{MaxSteps:N0}, got {Steps:N0}");
        if (BatchSize <= 0) errors.Add($"{prefix}.batch_size must be positive, got {BatchSize}");
        else if ((long)BatchSize * SeqLen > int.MaxValue) errors.Add($"{prefix}.batch_size × {prefix}.seq_len is {(long)BatchSize * SeqLen:N0} tokens per step; it must be below {int.MaxValue:N0}");
        if (SeqLen <= 1 || SeqLen > model.MaxSeqLen) errors.Add($"{prefix}.seq_len must be in 2..model.max_seq_len ({model.MaxSeqLen}), got {SeqLen}");
        if (!(Lr > 0) || double.IsInfinity(Lr)) errors.Add($"{prefix}.lr must be a finite positive number, got {Lr}");
        if (!(ValueLr > 0) || double.IsInfinity(ValueLr)) errors.Add($"{prefix}.value_lr must be a finite positive number, got {ValueLr}");
        if (WeightDecay < 0 || ValueWeightDecay < 0) errors.Add($"{prefix}.weight_decay / value_weight_decay must be ≥ 0");
        ValueUpdates.Validate(ValueUpdate, errors, $"{prefix}.value_update");
        if (Beta1 < 0 || Beta1 >= 1 || Beta2 < 0 || Beta2 >= 1) errors.Add($"{prefix}.beta1 / beta2 must be in [0, 1)");
        if (WarmupSteps < 0) errors.Add($"{prefix}.warmup_steps must be ≥ 0");
        if (MinLrRatio < 0 || MinLrRatio > 1) errors.Add($"{prefix}.min_lr_ratio must be in [0, 1]");
        if (GradClip < 0) errors.Add($"{prefix}.grad_clip must be ≥ 0 (0 disables)");
        if (EvalEvery <= 0 || EvalBatches <= 0) errors.Add($"{prefix}.eval_every and eval_batches must be positive");
        if (CheckpointEvery <= 0) errors.Add($"{prefix}.checkpoint_every must be positive");
        if (LogEvery <= 0) errors.Add($"{prefix}.log_every must be positive");
    }
}

/// <summary>
/// How AdamW updates the memory value table in pretraining (<c>train.value_update</c>) and full finetuning
/// (<c>full_value_update</c>); docs/method.md#lazy-value-updates.
/// </summary>
public static class ValueUpdates
{
    /// <summary>Row-sparse AdamW: only rows read at real tokens of the step get a gradient, moments, weight decay and an
    /// update (bias correction per row); untouched rows and their moments stay bit for bit. No [S, Dv] gradient is built.</summary>
    public const string Lazy = "lazy";

    /// <summary>Ordinary AdamW over the whole table every step (dense [S, Dv] gradient; moments of every row decay).</summary>
    public const string Dense = "dense";

    /// <summary>Every value, the default first.</summary>
    public static readonly IReadOnlyList<string> All = [Lazy, Dense];

    /// <summary>Whether <paramref name="value"/> asks for lazy updates (after validation).</summary>
    public static bool IsLazy(string value) => value == Lazy;

    internal static void Validate(string value, List<string> errors, string key)
    {
        if (!All.Contains(value)) errors.Add($"{key} must be {string.Join(" or ", All.Select(v => $"\"{v}\""))}, got \"{value}\"");
    }
}

/// <summary>Where pretraining text comes from and how the tokenizer is trained on it.</summary>
public sealed record DataConfig
{
    /// <summary>Corpus files (.txt, .jsonl, optionally .gz); "default" is the corpus embedded in the library.</summary>
    public string[] Corpus { get; init; } = ["default"];
    /// <summary>Stop reading after this many characters in total (0 = all).</summary>
    public long MaxChars { get; init; } = 0;
    /// <summary>Fraction of documents held out for evaluation (taken from the end, deterministically).</summary>
    public double HeldoutFraction { get; init; } = 0.05;
    /// <summary>Characters of training text used to train the tokenizer (0 = all).</summary>
    public long TokenizerTrainChars { get; init; } = 2_000_000;
    /// <summary>
    /// Known facts mixed into the training documents (not the held-out ones): "known" (or another embedded set name)
    /// or a facts file path; null = none. See <see cref="Data.Facts.FactDocuments"/>.
    /// </summary>
    public string? KnownFacts { get; init; }
    /// <summary>Lines per known fact (about half QA examples, the rest statement paraphrases), packed 4–8 per document.</summary>
    public int FactRepeats { get; init; } = 4;
    /// <summary>
    /// Share of the known facts that also appear as question–answer lines (the rest only as statements): the transfer
    /// split of docs/method.md#transfer-probe. 1 = every fact (the original layout).
    /// </summary>
    public double KnownQaFraction { get; init; } = 1;
    /// <summary>Knowledge augmentation: known-fact statement lines drawn from the paraphrase wrappers, not the bare statements.</summary>
    public bool FactAugment { get; init; } = false;

    internal void Validate(List<string> errors, string prefix)
    {
        if (Corpus.Length == 0) errors.Add($"{prefix}.corpus must list at least one file (or \"default\")");
        if (MaxChars < 0) errors.Add($"{prefix}.max_chars must be ≥ 0");
        if (HeldoutFraction <= 0 || HeldoutFraction >= 0.5) errors.Add($"{prefix}.heldout_fraction must be in (0, 0.5), got {HeldoutFraction}");
        if (TokenizerTrainChars < 0) errors.Add($"{prefix}.tokenizer_train_chars must be ≥ 0");
        if (KnownFacts is not null && string.IsNullOrWhiteSpace(KnownFacts))
            errors.Add($"{prefix}.known_facts must be null, an embedded set name (e.g. \"known\") or a facts file path");
        if (FactRepeats < 1 || FactRepeats > 1000) errors.Add($"{prefix}.fact_repeats must be in 1..1000, got {FactRepeats}");
        if (!(KnownQaFraction >= 0 && KnownQaFraction <= 1)) errors.Add($"{prefix}.known_qa_fraction must be in [0, 1], got {KnownQaFraction}");
    }
}
