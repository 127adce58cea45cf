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
    /// <summary>
    /// Dtype the weights are written in and every verb computes in (<c>--dtype</c>, one of <see cref="Dtypes"/>):
    /// float32 (the default; the only one that finetuning trains), bfloat16 or float16, or <see cref="Source"/> = as
    /// the checkpoint stores them. The run's <c>model.dtype</c> records the result (docs/own-model.md#kept-dtypes).
    /// </summary>
    public string Dtype { get; init; } = ModelConfig.Float32;

    /// <summary>The <see cref="Dtype"/> that keeps the checkpoint's own dtype.</summary>
    public const string Source = "source";

    /// <summary>The values <see cref="Dtype"/> accepts.</summary>
    public static readonly IReadOnlyList<string> Dtypes = [.. ModelConfig.Dtypes, Source];

    /// <summary>The set-able options' problems (empty when valid), keys as in the run's <c>config.json</c>.</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (!Dtypes.Contains(Dtype))
            e.Add($"import.dtype is \"{Dtype}\"; allowed: {string.Join(", ", Dtypes)} ({Source} = as the checkpoint stores them; --dtype)");
        if (MaxSeqLen < 2) e.Add($"import.max_seq_len is {MaxSeqLen}; it must be ≥ 2 (--max-seq-len)");
        return e;
    }

    /// <summary>
    /// The model dtype of an import: <see cref="Dtype"/>, or for <see cref="Source"/> the PyTorch name of
    /// <paramref name="sourceDtype"/> (the safetensors name: F32, BF16 or F16).
    /// </summary>
    public string ResolvedDtype(string sourceDtype) => Dtype != Source ? Dtype : sourceDtype switch
    {
        "F32" => ModelConfig.Float32, "BF16" => "bfloat16", "F16" => "float16",
        _ => throw new ArgumentException($"source dtype \"{sourceDtype}\" has no model dtype (F32, BF16 or F16)"),
    };
}
