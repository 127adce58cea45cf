namespace SparseMemory.Config;

/// <summary>
/// Decoder-only transformer hyperparameters. Dimension letters used across the model code:
/// B batch, T sequence length, D model dim (<see cref="Dim"/>), V vocabulary size.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>Vocabulary size V (the tokenizer is trained to at most this many entries).</summary>
    public int VocabSize { get; init; } = 4096;
    /// <summary>Model dimension D.</summary>
    public int Dim { get; init; } = 128;
    /// <summary>Number of transformer blocks.</summary>
    public int Layers { get; init; } = 4;
    /// <summary>Attention heads (D must be divisible by it; head dim must be even for rotary positions).</summary>
    public int Heads { get; init; } = 4;
    /// <summary>Hidden size of the SwiGLU feed-forward blocks.</summary>
    public int FfnHidden { get; init; } = 384;
    /// <summary>Longest sequence the rotary tables are built for.</summary>
    public int MaxSeqLen { get; init; } = 256;
    /// <summary>Share the token embedding with the output projection.</summary>
    public bool TieEmbeddings { get; init; } = true;
    /// <summary>Rotary base frequency θ.</summary>
    public double RopeTheta { get; init; } = 10000.0;
    /// <summary>RMSNorm epsilon.</summary>
    public double NormEps { get; init; } = 1e-5;
    /// <summary>Std of the normal init of embeddings and linear weights (residual outputs are scaled by 1/√(2·Layers)).</summary>
    public double InitStd { get; init; } = 0.02;
    /// <summary>Product-key memory; null builds a dense model.</summary>
    public MemoryConfig? Memory { get; init; } = new();
    /// <summary>
    /// Key/value heads of grouped-query attention (HF <c>num_key_value_heads</c>): every group of
    /// <see cref="Heads"/> / kv_heads query heads shares one key and value head. −1 means kv_heads = heads (plain
    /// multi-head attention, the native models).
    /// </summary>
    public int KvHeads { get; init; } = -1;
    /// <summary>Dimension of one attention head (HF <c>head_dim</c>); −1 means dim / heads (the native models).</summary>
    public int HeadDim { get; init; } = -1;
    /// <summary>Bias on the query, key and value projections (Qwen2); the output projection never has one.</summary>
    public bool QkvBias { get; init; }
    /// <summary>Rotary frequency scaling (HF <c>rope_scaling</c>); null leaves the frequencies θ^(−2i/hd) as they are.</summary>
    public RopeScalingConfig? RopeScaling { get; init; }
    /// <summary>
    /// The dtype the backbone's weights are created, stored and computed in (one of <see cref="Dtypes"/>): float32 for
    /// every native model; an import may keep bfloat16 or float16 (<c>smf import --dtype</c>). Product-key memory layers
    /// are float32 whatever this says (docs/own-model.md#kept-dtypes).
    /// </summary>
    public string Dtype { get; init; } = Float32;

    /// <summary>The default <see cref="Dtype"/>, and the only one that can be trained.</summary>
    public const string Float32 = "float32";

    /// <summary>The values <see cref="Dtype"/> accepts (PyTorch's names).</summary>
    public static readonly IReadOnlyList<string> Dtypes = [Float32, "bfloat16", "float16"];

    /// <summary>Key/value heads resolved against <see cref="Heads"/>.</summary>
    public int ResolvedKvHeads() => KvHeads < 0 ? Heads : KvHeads;

    /// <summary>Head dimension resolved against <see cref="Dim"/> / <see cref="Heads"/>.</summary>
    public int ResolvedHeadDim() => HeadDim < 0 ? Dim / Math.Max(Heads, 1) : HeadDim;

    internal void Validate(List<string> errors, string prefix)
    {
        if (VocabSize < 260) errors.Add($"{prefix}.vocab_size must be ≥ 260 (256 bytes + specials), got {VocabSize}");
        if (Dim <= 0) errors.Add($"{prefix}.dim must be positive, got {Dim}");
        if (Layers <= 0) errors.Add($"{prefix}.layers must be positive, got {Layers}");
        if (HeadDim == -1)
        {
            if (Heads <= 0 || Dim % Math.Max(Heads, 1) != 0) errors.Add($"{prefix}.heads ({Heads}) must divide dim ({Dim})");
            else if ((Dim / Heads) % 2 != 0) errors.Add($"{prefix}.dim / heads must be even for rotary positions, got {Dim / Heads}");
        }
        else
        {
            if (Heads <= 0) errors.Add($"{prefix}.heads must be positive, got {Heads}");
            if (HeadDim <= 0 || HeadDim % 2 != 0) errors.Add($"{prefix}.head_dim must be even and positive (or -1 = dim / heads), got {HeadDim}");
        }
        if (KvHeads == 0 || KvHeads < -1) errors.Add($"{prefix}.kv_heads must be positive or -1 (= heads), got {KvHeads}");
        else if (Heads > 0 && Heads % ResolvedKvHeads() != 0) errors.Add($"{prefix}.kv_heads ({KvHeads}) must divide heads ({Heads})");
        RopeScaling?.Validate(errors, prefix + ".rope_scaling");
        if (!Dtypes.Contains(Dtype)) errors.Add($"{prefix}.dtype is \"{Dtype}\"; allowed: {string.Join(", ", Dtypes)}");
        if (FfnHidden <= 0) errors.Add($"{prefix}.ffn_hidden must be positive, got {FfnHidden}");
        if (MaxSeqLen <= 1) errors.Add($"{prefix}.max_seq_len must be > 1, got {MaxSeqLen}");
        if (NormEps <= 0) errors.Add($"{prefix}.norm_eps must be positive");
        if (InitStd <= 0) errors.Add($"{prefix}.init_std must be positive");
        Memory?.Validate(errors, prefix + ".memory", this);
    }
}

/// <summary>
/// Rotary frequency scaling. The one type supported is Llama 3's (<c>rope_type</c> "llama3"): with wavelength
/// λ = 2π / f of each frequency f, L = original_max_position_embeddings / low_freq_factor and
/// H = original_max_position_embeddings / high_freq_factor, frequencies with λ &lt; H are kept, those with λ &gt; L are
/// divided by <see cref="Factor"/>, and those between are blended, f·((1 − s)/factor + s) with
/// s = (original_max_position_embeddings / λ − low_freq_factor) / (high_freq_factor − low_freq_factor).
/// </summary>
public sealed record RopeScalingConfig
{
    /// <summary>The scaling rule; only "llama3".</summary>
    public string RopeType { get; init; } = "llama3";
    /// <summary>Divisor of the low frequencies.</summary>
    public double Factor { get; init; } = 8.0;
    /// <summary>Wavelengths above original_max_position_embeddings / low_freq_factor are scaled fully.</summary>
    public double LowFreqFactor { get; init; } = 1.0;
    /// <summary>Wavelengths below original_max_position_embeddings / high_freq_factor are kept.</summary>
    public double HighFreqFactor { get; init; } = 4.0;
    /// <summary>Context length the model was first trained at.</summary>
    public int OriginalMaxPositionEmbeddings { get; init; } = 8192;

    /// <summary>The rope types this code implements.</summary>
    public static readonly IReadOnlyList<string> Types = ["llama3"];

    internal void Validate(List<string> errors, string prefix)
    {
        if (!Types.Contains(RopeType)) errors.Add($"{prefix}.rope_type \"{RopeType}\" is not supported (supported: {string.Join(", ", Types)})");
        if (!(Factor >= 1) || double.IsInfinity(Factor)) errors.Add($"{prefix}.factor must be ≥ 1, got {Factor}");
        if (!(LowFreqFactor > 0) || !(HighFreqFactor > LowFreqFactor) || double.IsInfinity(HighFreqFactor))
            errors.Add($"{prefix}: need 0 < low_freq_factor < high_freq_factor, got {LowFreqFactor} and {HighFreqFactor}");
        if (OriginalMaxPositionEmbeddings <= 0) errors.Add($"{prefix}.original_max_position_embeddings must be positive, got {OriginalMaxPositionEmbeddings}");
    }

    /// <summary>Applies the rule to inverse frequencies (radians per position), in place.</summary>
    public void Apply(double[] inverseFrequencies)
    {
        double lowWave = OriginalMaxPositionEmbeddings / LowFreqFactor, highWave = OriginalMaxPositionEmbeddings / HighFreqFactor;
        for (int i = 0; i < inverseFrequencies.Length; i++)
        {
            double f = inverseFrequencies[i], wave = 2 * Math.PI / f;
            if (wave < highWave) continue;
            if (wave > lowWave) { inverseFrequencies[i] = f / Factor; continue; }
            double smooth = (OriginalMaxPositionEmbeddings / wave - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
            inverseFrequencies[i] = (1 - smooth) * f / Factor + smooth * f;
        }
    }
}

/// <summary>
/// Product-key memory layer (Lample et al. 2019; Memory+ of Berges et al. 2024). Letters: H heads,
/// N sub-keys per half, S = N² slots, K top-k per head, Dk full key dim, Dv value dim.
/// </summary>
public sealed record MemoryConfig
{
    /// <summary>0-based indices of the blocks whose FFN is replaced by the memory layer. All share one value table.</summary>
    public int[] Layers { get; init; } = [2];
    /// <summary>N, sub-keys per half (<c>mem_n_keys</c>); the memory has N² slots.</summary>
    public int NumKeys { get; init; } = 128;
    /// <summary>H, memory heads (<c>mem_heads</c>).</summary>
    public int Heads { get; init; } = 4;
    /// <summary>K, slots read per head (<c>mem_knn</c>).</summary>
    public int TopK { get; init; } = 32;
    /// <summary>Dk, full key dim (<c>mem_k_dim</c>); each half-key has Dk/2.</summary>
    public int KeyDim { get; init; } = 128;
    /// <summary>Dv, value dim (<c>mem_v_dim</c>); −1 means Dv = D.</summary>
    public int ValueDim { get; init; } = -1;
    /// <summary>Memory+ SiLU gating: out = W2(y ⊙ silu(W1 x)). Off gives out = W2 y.</summary>
    public bool Gated { get; init; } = true;

    /// <summary>
    /// Run the memory beside the block's FFN (out = x + ffn(h) + memory(h)) instead of replacing it: the layout of
    /// <c>smf retrofit</c>, which adds memory to a pretrained model without removing anything it learned.
    /// </summary>
    public bool Parallel { get; init; }

    /// <summary>Number of slots S = N².</summary>
    public long Slots => (long)NumKeys * NumKeys;

    /// <summary>Dv resolved against the model dim.</summary>
    public int ResolvedValueDim(int modelDim) => ValueDim < 0 ? modelDim : ValueDim;

    internal void Validate(List<string> errors, string prefix, ModelConfig model)
    {
        if (Layers.Length == 0) errors.Add($"{prefix}.layers must name at least one block (or set memory to null)");
        foreach (int l in Layers)
            if (l < 0 || l >= model.Layers) errors.Add($"{prefix}.layers: block {l} does not exist (model has {model.Layers} blocks: 0..{model.Layers - 1})");
        if (Layers.Distinct().Count() != Layers.Length) errors.Add($"{prefix}.layers has duplicates");
        if (NumKeys < 2) errors.Add($"{prefix}.num_keys must be ≥ 2, got {NumKeys}");
        if (Heads < 1) errors.Add($"{prefix}.heads must be ≥ 1, got {Heads}");
        if (TopK < 1 || TopK > NumKeys) errors.Add($"{prefix}.top_k must be in 1..num_keys ({NumKeys}), got {TopK}");
        if (KeyDim < 2 || KeyDim % 2 != 0) errors.Add($"{prefix}.key_dim must be even and ≥ 2, got {KeyDim}");
        if (ValueDim == 0 || ValueDim < -1) errors.Add($"{prefix}.value_dim must be positive or -1 (= dim), got {ValueDim}");
    }
}
