using SparseMemory.Config;
using SparseMemory.Memory;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Model;

/// <summary>
/// Decoder-only transformer language model (RMSNorm, rotary positions, causal attention, SwiGLU FFNs) whose
/// configured blocks use a product-key memory instead of the FFN; all memory layers share one value table.
/// Letters: B batch, T time, D model dim, V vocab.
/// <para>State-dict names (also the safetensors names): <c>tok_embeddings.weight</c>;
/// <c>layers.{i}.attention_norm.weight</c>; <c>layers.{i}.attention.{wq,wk,wv,wo}.weight</c>;
/// <c>layers.{i}.ffn_norm.weight</c>; dense blocks <c>layers.{i}.feed_forward.{w1,w2,w3}.weight</c>; memory blocks
/// <c>layers.{i}.memory.query.{weight,bias}</c>, <c>layers.{i}.memory.keys</c>,
/// <c>layers.{i}.memory.gate_proj.{weight,bias}</c>, <c>layers.{i}.memory.out_proj.{weight,bias}</c>;
/// <c>memory_values.weight</c>; <c>norm.weight</c>; <c>output.weight</c> (absent when embeddings are tied).</para>
/// <para>Every weight but the memory's is created in <see cref="ModelConfig.Dtype"/> (float32 for native models; an
/// import may keep bfloat16 or float16); the memory layers and the value table are float32. Logits are float32 in
/// every dtype (<see cref="ModelDtypes"/>, docs/own-model.md#kept-dtypes).</para>
/// </summary>
public sealed class LanguageModel : nn.Module<Tensor, Tensor>
{
    readonly Embedding tok_embeddings;
    readonly ModuleList<TransformerBlock> layers;
    readonly EmbeddingBag? memory_values;
    readonly RmsNorm norm;
    readonly Projection? output;
    readonly Rotary _rotary;

    /// <summary>The architecture this model was built from.</summary>
    public ModelConfig Config { get; }

    /// <summary>Builds and initialises the model from the current torch RNG state (seed it first for reproducibility).</summary>
    public LanguageModel(ModelConfig cfg) : base(nameof(LanguageModel))
    {
        Config = cfg;
        var rotary = _rotary = new Rotary(cfg.ResolvedHeadDim(), cfg.MaxSeqLen, cfg.RopeTheta, cfg.RopeScaling);
        var dtype = ModelDtypes.Of(cfg.Dtype);
        // float32 keeps the original call, so a native model's initialisation draws exactly what it always drew.
        tok_embeddings = dtype == ScalarType.Float32 ? nn.Embedding(cfg.VocabSize, cfg.Dim) : nn.Embedding(cfg.VocabSize, cfg.Dim, dtype: dtype);
        using (torch.no_grad()) nn.init.normal_(tok_embeddings.weight!, 0, cfg.InitStd);
        SharedValues? values = null;
        if (cfg.Memory is { } mem)
        {
            int dv = mem.ResolvedValueDim(cfg.Dim);
            memory_values = nn.EmbeddingBag(mem.Slots, dv, mode: EmbeddingBagMode.Sum);
            using (torch.no_grad()) nn.init.normal_(memory_values.weight!, 0, 1.0 / Math.Sqrt(dv));
            values = new SharedValues(memory_values);
        }
        var memLayers = cfg.Memory?.Layers.ToHashSet() ?? [];
        layers = nn.ModuleList(Enumerable.Range(0, cfg.Layers)
            .Select(i => new TransformerBlock(i, cfg, rotary, memLayers.Contains(i) ? values : null)).ToArray());
        norm = new RmsNorm(cfg.Dim, cfg.NormEps, dtype);
        if (!cfg.TieEmbeddings) output = new Projection(cfg.Dim, cfg.VocabSize, cfg.InitStd, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>The dtype of the backbone's weights now (the token embedding's): <see cref="ModelConfig.Dtype"/> unless the model was converted.</summary>
    public ScalarType Dtype => tok_embeddings.weight!.dtype;

    /// <summary>The blocks in order.</summary>
    public IReadOnlyList<TransformerBlock> Blocks => layers.ToList();
    /// <summary>The shared memory value table [S, Dv], or null for a dense model.</summary>
    public Parameter? MemoryValues => memory_values?.weight;
    /// <summary>The memory layers in block order.</summary>
    public IEnumerable<ProductKeyMemory> MemoryLayers => layers.Select(l => l.Memory).OfType<ProductKeyMemory>();
    /// <summary>Every Projection of the model (attention and FFN matrices), by state-dict prefix.</summary>
    public IEnumerable<(string Name, Projection Projection)> Projections =>
        layers.SelectMany((l, i) => l.Attention.Projections.Select(p => ($"layers.{i}.attention.{p.Name}", p.Projection))
            .Concat(l.FeedForward?.Projections.Select(p => ($"layers.{i}.feed_forward.{p.Name}", p.Projection)) ?? []));

    /// <summary>
    /// When true, memory layers read values outside autograd and record the read as a gradient-requiring leaf
    /// (<see cref="MemoryAccess.Read"/>); the value table then gets no gradient from backward. Used by sparse memory
    /// finetuning to form the gradient of only the selected rows.
    /// </summary>
    public bool CaptureValueReads
    {
        get => MemoryLayers.Any(m => m.CaptureReads);
        set { foreach (var m in MemoryLayers) m.CaptureReads = value; }
    }

    FastPaths _fastPaths = FastPaths.On;

    /// <summary>
    /// The optimised kernels this model runs (all on by default; <see cref="SparseMemory.Config.FastPaths.Reference"/> for the plain
    /// reference): the chunked output loss of <see cref="ForwardLoss"/> and the managed backward of its memory reads.
    /// Per model, so two models in one process can run different kernels.
    /// </summary>
    public FastPaths FastPaths
    {
        get => _fastPaths;
        set
        {
            _fastPaths = value;
            foreach (var m in MemoryLayers) m.ManagedValueBackward = value.ManagedValueBackward;
        }
    }

    /// <summary>Token ids [B, T] (int64) → logits [B, T, V] (float32 when the model is 16-bit).</summary>
    public override Tensor forward(Tensor tokens) => Forward(tokens, null, null);

    /// <summary>
    /// Token ids [B, T] → logits [B, T, V]. When <paramref name="log"/> is given, every memory layer records the slots it
    /// read, with <paramref name="validMask"/> ([B, T] bool, false at padding) attached so padding can be excluded.
    /// Padding must be on the right (attention is causal, so it never affects real tokens).
    /// </summary>
    public Tensor Forward(Tensor tokens, MemoryAccessLog? log, Tensor? validMask)
    {
        var h = Hidden(tokens, log, validMask);
        return Logits(h);                                                                        // (B, T, V)
    }

    /// <summary>The output projection of final-norm hidden states [..., D] → [..., V]; a 16-bit product is returned as float32.</summary>
    Tensor Logits(Tensor h)
    {
        var logits = output is not null ? output.forward(h) : F.linear(h, tok_embeddings.weight!);
        return ModelDtypes.IsHalf(logits.dtype) ? logits.to(ScalarType.Float32) : logits;
    }

    /// <summary>
    /// Mean next-token cross-entropy of the model on <paramref name="tokens"/> against <paramref name="targets"/>
    /// ([B, T], &lt; 0 ignored), with the memory reads recorded as in <see cref="Forward"/>: the value and gradients of
    /// <c>Loss(Forward(tokens, log, validMask), targets)</c>, computed by <see cref="OutputLoss.Chunked"/> without the
    /// [B, T, V] logits (<see cref="SparseMemory.Config.FastPaths.ChunkedOutputLoss"/> of <see cref="FastPaths"/>; the plain path when it is off or the output
    /// projection carries an adapter, and for a 16-bit model, whose float32 logits the plain path takes).
    /// </summary>
    public Tensor ForwardLoss(Tensor tokens, Tensor targets, MemoryAccessLog? log, Tensor? validMask)
    {
        if (!_fastPaths.ChunkedOutputLoss || output?.Adapter is not null || ModelDtypes.IsHalf(Dtype)) return Loss(Forward(tokens, log, validMask), targets);
        return OutputLoss.Chunked(Hidden(tokens, log, validMask), output?.Weight ?? tok_embeddings.weight!, targets);
    }

    /// <summary>Final-norm hidden states [B, T, D] (everything but the output projection), reads recorded as in <see cref="Forward"/>.</summary>
    internal Tensor Hidden(Tensor tokens, MemoryAccessLog? log, Tensor? validMask)
    {
        foreach (var m in MemoryLayers) { m.AccessLog = log; m.ValidMask = validMask; }
        try
        {
            var h = tok_embeddings.forward(tokens);                      // (B, T, D)
            foreach (var layer in layers) h = layer.forward(h);
            return norm.forward(h);
        }
        finally
        {
            foreach (var m in MemoryLayers) { m.AccessLog = null; m.ValidMask = null; }
        }
    }

    /// <summary>
    /// Incremental forward for decoding (inference only, under <c>no_grad</c>): <paramref name="tokens"/> [B, Tn] are
    /// the next Tn columns of the batch whose keys and values <paramref name="cache"/> holds (the whole prompt at the
    /// first step, then one token per step). Their keys and values are appended to the cache; only the new columns run
    /// through the blocks, memory layers included. Returns the logits of the last new column, [B, V]: the same as
    /// <see cref="forward"/> on each row's whole unpadded prefix, up to floating-point summation order.
    /// </summary>
    public Tensor ForwardNext(Tensor tokens, KvCache cache)
    {
        if (torch.is_grad_enabled()) throw new InvalidOperationException("ForwardNext is inference only: call it under torch.no_grad()");
        if (tokens.dim() != 2 || tokens.shape[0] != cache.Batch)
            throw new ArgumentException($"tokens [{string.Join(", ", tokens.shape)}] for a cache of {cache.Batch} rows");
        long t = tokens.shape[1];
        var h = tok_embeddings.forward(tokens);                                  // (B, Tn, D)
        var step = cache.Begin(t, _rotary, Config.Layers, Config.ResolvedKvHeads(), Config.ResolvedHeadDim(), h.device, h.dtype);
        for (int i = 0; i < layers.Count; i++) h = layers[i].ForwardCached(h, step, cache.Layer(i));
        cache.Commit(t);
        h = norm.forward(h.select(1, -1));                                       // (B, D): only the last column is needed
        return Logits(h);                                                        // (B, V)
    }

    /// <summary>Mean next-token cross-entropy of <paramref name="logits"/> [B, T, V] against <paramref name="targets"/> [B, T]; targets &lt; 0 are ignored.</summary>
    public static Tensor Loss(Tensor logits, Tensor targets) =>
        F.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1), ignore_index: -1);

    /// <summary>Named parameters that are trained (requires_grad), in state-dict order.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> TrainableParameters =>
        named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter));
}
