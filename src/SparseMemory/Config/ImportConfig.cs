namespace SparseMemory.Config;

/// <summary>
/// The frozen config of an imported model's run folder (<c>smf import</c>): where it came from, how it was read, and
/// the architecture in this project's terms (<see cref="Model"/>, the section every verb reads).
/// </summary>
public sealed record ImportRunConfig
{
    /// <summary>The source and the import options.</summary>
    public ImportConfig Import { get; init; } = new();
    /// <summary>The architecture, translated from the source's <c>config.json</c> (dense: no memory).</summary>
    public ModelConfig Model { get; init; } = new();
}

/// <summary>Where an imported model came from and how it was read.</summary>
public sealed record ImportConfig
{
    /// <summary>Longest context the default <c>--max-seq-len</c> keeps (the rotary tables and caches are sized by it).</summary>
    public const int DefaultMaxSeqLen = 4096;

    /// <summary>The Hugging Face folder (absolute path).</summary>
    public string From { get; init; } = "";
    /// <summary>The <c>architectures[0]</c> of its <c>config.json</c>.</summary>
    public string Architecture { get; init; } = "";
    /// <summary>The dtype its tensors were stored in (F32, F16 or BF16).</summary>
    public string SourceDtype { get; init; } = "";
    /// <summary>SHA-256 of the source's <c>config.json</c> (a re-import of a changed source is a different run).</summary>
    public string ConfigSha256 { get; init; } = "";
    /// <summary>Cap on model.max_seq_len (the source's max_position_embeddings when smaller).</summary>
    public int MaxSeqLen { get; init; } = DefaultMaxSeqLen;
    /// <summary>Dtype the weights are written in; only "float32" (what every verb computes in).</summary>
    public string Dtype { get; init; } = "float32";
}
