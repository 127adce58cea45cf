namespace SparseMemory.Config;

/// <summary>
/// <c>smf background</c>: background access statistics of a checkpoint (document frequency over |B| batches) for the
/// TF-IDF and KL rankers (docs/method.md). Built like every verb's config and frozen beside the statistics file
/// (<see cref="ConfigLoader.FrozenName"/>).
/// </summary>
public sealed record BackgroundConfig
{
    /// <summary>Checkpoint folder (required; <c>--model</c>).</summary>
    public string? Model { get; init; }
    /// <summary>Background batches |B| (the paper: 1000).</summary>
    public int Batches { get; init; } = 1000;
    /// <summary>Sequences per batch (the finetuning paraphrase count).</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Tokens per sequence (about one fact statement).</summary>
    public int SeqLen { get; init; } = 32;
    /// <summary>Batch sampling seed.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>
    /// Background text: null or <c>pretrain</c> = the model's own pretraining text; an embedded fact set (known, new) or a
    /// facts file; <c>nq</c> (NaturalQuestions questions); or a .txt file.
    /// </summary>
    public string? Corpus { get; init; }

    /// <summary>Every problem at once.</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (string.IsNullOrWhiteSpace(Model)) e.Add("model is required: pass --model DIR or set \"model\" in --config");
        if (Batches <= 0) e.Add($"batches must be ≥ 1, got {Batches} (--batches)");
        if (BatchSize <= 0) e.Add($"batch_size must be ≥ 1, got {BatchSize} (--batch-size)");
        if (SeqLen <= 1) e.Add($"seq_len must be ≥ 2, got {SeqLen} (--seq-len)");
        if (Corpus is not null && string.IsNullOrWhiteSpace(Corpus)) e.Add("corpus must be null (the pretraining text) or name a corpus (--corpus)");
        return e;
    }
}
