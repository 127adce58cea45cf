namespace SparseMemory.Config;

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
    /// <summary>
    /// What may change: a finetuning method's registered name (<c>sparse</c>, <c>memory_all</c>, <c>full</c>, <c>lora</c>; the
    /// registry lives in the Finetuning namespace, which also validates the name).
    /// </summary>
    public string Method { get; init; } = "sparse";
    /// <summary>Learning rate; null = the method's default (declared by the method's registry entry).</summary>
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
    /// <summary>How the full-finetuning baseline updates the memory value table: <c>lazy</c> (default) or <c>dense</c> (see <see cref="ValueUpdates"/>).</summary>
    public string FullValueUpdate { get; init; } = ValueUpdates.Lazy;
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

    /// <summary>
    /// All structural problems at once. What depends on the chosen method, ranker, row optimizer or probes is checked by
    /// the registries that own them (the finetune run combines both), so this namespace stays a leaf.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (string.IsNullOrWhiteSpace(BaseModel)) e.Add("base_model must name a checkpoint folder (--model DIR)");
        if (Lr is { } lr && (!(lr > 0) || double.IsInfinity(lr))) e.Add($"lr must be a finite positive number, got {lr} (--lr; leave it unset for the method's default)");
        if (Steps < 0) e.Add($"steps must be ≥ 0 (0 = one pass over the stream), got {Steps} (--steps)");
        if (LogEvery <= 0 || CheckpointEvery <= 0 || EvalEvery < 0) e.Add("log_every and checkpoint_every must be positive, eval_every ≥ 0");
        if (string.IsNullOrWhiteSpace(Method)) e.Add("method must name a finetuning method (--method)");
        Data.Validate(e, "data");
        if (FullWeightDecay < 0) e.Add("full_weight_decay must be ≥ 0");
        ValueUpdates.Validate(FullValueUpdate, e, "full_value_update");
        if (ProbeLimit < 0) e.Add("probe_limit must be ≥ 0 (0 = all items)");
        Model?.Validate(e, "model");
        return e;
    }
}

/// <summary>The stream: facts (one per step) or documents (one chunk per step; docs/documents.md).</summary>
public sealed record StreamConfig
{
    /// <summary>What the stream teaches: <c>facts</c> (a fact's paraphrases per step) or <c>documents</c> (a chunk's augmentations per step).</summary>
    public string Task { get; init; } = "facts";
    /// <summary>"new" / "known" (embedded sets) or a facts JSONL file.</summary>
    public string Facts { get; init; } = "new";
    /// <summary>With task <c>documents</c>: "new" (the embedded articles) or a JSONL / .txt / .md file or a folder of them.</summary>
    public string Documents { get; init; } = "new";
    /// <summary>
    /// With task <c>documents</c>: the questions the target probe asks (a TriviaQA-format or facts JSONL, or an embedded
    /// fact set name); null = the embedded articles' own questions (none for a file). No training line contains one.
    /// </summary>
    public string? Questions { get; init; }
    /// <summary>With task <c>documents</c>: most tokens per chunk (the model's tokenizer; at most model.max_seq_len − 1).</summary>
    public int ChunkTokens { get; init; } = 128;
    /// <summary>With task <c>documents</c>: the augmentation strategies that fill a batch, by registered name; null = all of them.</summary>
    public string[]? Strategies { get; init; }
    /// <summary>Stream the facts in a seeded random order (fact files are stored sorted by id, i.e. grouped by relation). Documents always stream in document order.</summary>
    public bool Shuffle { get; init; } = true;
    /// <summary>Use only the first N facts of the stream (after shuffling), or the first N documents (0 = all).</summary>
    public int Limit { get; init; } = 0;
    /// <summary>Paraphrases per fact, or augmented lines per chunk = batch size (the paper: 64).</summary>
    public int Paraphrases { get; init; } = 16;
    /// <summary>Optimizer steps spent on each fact or chunk.</summary>
    public int StepsPerItem { get; init; } = 1;
    /// <summary>Allow the question form in training text.</summary>
    public bool AllowQuestionForm { get; init; } = false;
    /// <summary>With <see cref="AllowQuestionForm"/>: share of each batch in question form (null = no quota; see docs/method.md#recipe).</summary>
    public double? QuestionFraction { get; init; }
    /// <summary>
    /// Where question lines come from (with <see cref="AllowQuestionForm"/>): <c>generated</c> — self-quiz questions made
    /// from the statements, never a line that contains the evaluation question — or <c>verbatim</c>, the fact's own
    /// question, which is the one the probes ask (an upper bound, never a headline). docs/method.md#protocol.
    /// </summary>
    public string QuestionSource { get; init; } = "generated";
    /// <summary>
    /// Draw a fresh sample of lines on every step of a fact (true), or repeat the fact's first batch on each of its
    /// steps_per_item steps (false, the behaviour before the protocol change).
    /// </summary>
    public bool FreshEachStep { get; init; } = true;

    /// <summary>The allowed values of <see cref="QuestionSource"/>.</summary>
    public static readonly string[] QuestionSources = ["generated", "verbatim"];

    /// <summary>The allowed values of <see cref="Task"/>.</summary>
    public static readonly string[] Tasks = ["facts", "documents"];

    /// <summary>Whether the stream is the document stream.</summary>
    public bool IsDocuments() => Task == "documents";

    /// <summary>Adds this section's structural problems to <paramref name="e"/>, keys prefixed with <paramref name="p"/>.</summary>
    public void Validate(List<string> e, string p)
    {
        if (!Tasks.Contains(Task)) e.Add($"{p}.task must be {string.Join(" or ", Tasks.Select(v => $"\"{v}\""))}, got \"{Task}\" (--task)");
        if (string.IsNullOrWhiteSpace(Facts)) e.Add($"{p}.facts must name a fact set or file");
        if (IsDocuments() && string.IsNullOrWhiteSpace(Documents)) e.Add($"{p}.documents must name the embedded set \"new\" or a file or folder (--data)");
        if (!IsDocuments() && Questions is not null) e.Add($"{p}.questions goes with {p}.task=documents (--task documents); facts carry their own questions");
        if (ChunkTokens < 1) e.Add($"{p}.chunk_tokens must be ≥ 1, got {ChunkTokens}");
        if (Limit < 0) e.Add($"{p}.limit must be ≥ 0");
        if (Paraphrases <= 0) e.Add($"{p}.paraphrases must be positive");
        if (StepsPerItem <= 0) e.Add($"{p}.steps_per_item must be positive");
        if (QuestionFraction is double q && !(q >= 0 && q <= 1)) e.Add($"{p}.question_fraction must be between 0 and 1, got {q}");
        if (QuestionFraction is not null && !AllowQuestionForm) e.Add($"{p}.question_fraction needs {p}.allow_question_form=true");
        if (!QuestionSources.Contains(QuestionSource))
            e.Add($"{p}.question_source must be {string.Join(" or ", QuestionSources.Select(v => $"\"{v}\""))}, got \"{QuestionSource}\"");
    }
}

/// <summary>Sparse memory finetuning settings.</summary>
public sealed record SparseConfig
{
    /// <summary>t: value rows updated per step.</summary>
    public int TopT { get; init; } = 512;
    /// <summary>Slot ranking: a registered ranker name (<c>tf_idf</c>, <c>tf_only</c>, <c>kl</c>, <c>random</c>, <c>all_accessed</c>).</summary>
    public string Ranker { get; init; } = "tf_idf";
    /// <summary>Row update rule: a registered row optimizer name (<c>sgd</c>, <c>adam_w</c>).</summary>
    public string Optimizer { get; init; } = "sgd";
    /// <summary>Weight decay (row optimizers that support it; selected rows only).</summary>
    public double WeightDecay { get; init; } = 0;
    /// <summary>Background statistics file; null = <c>background.safetensors</c> in the base checkpoint; <c>stream</c> = computed
    /// from the learning stream itself (one document per fact; an IDF-source ablation).</summary>
    public string? Background { get; init; }
    /// <summary>Never select zero-score (zero-IDF) slots.</summary>
    public bool ExcludeZeroIdf { get; init; } = false;

    /// <summary>Adds this section's structural problems to <paramref name="e"/>, keys prefixed with <paramref name="p"/>.</summary>
    public void Validate(List<string> e, string p)
    {
        if (TopT <= 0) e.Add($"{p}.top_t must be ≥ 1, got {TopT} (--top-t)");
        if (WeightDecay < 0) e.Add($"{p}.weight_decay must be ≥ 0");
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

    /// <summary>Adds this section's structural problems to <paramref name="e"/>, keys prefixed with <paramref name="p"/>.</summary>
    public void Validate(List<string> e, string p)
    {
        if (Rank <= 0) e.Add($"{p}.rank must be positive");
        if (!(Alpha > 0)) e.Add($"{p}.alpha must be positive");
        if (!Attention && !FeedForward) e.Add($"{p}: adapt attention, feed_forward or both");
        if (WeightDecay < 0) e.Add($"{p}.weight_decay must be ≥ 0");
    }
}
