using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Training;

namespace SparseMemory.Finetuning;

/// <summary>
/// A finetuning method as the registry knows it: everything the CLI, config validation, the finetune run, the
/// benchmark, the experiments and the tests need, so none of them switches on the method.
/// </summary>
/// <param name="Name">Config name (<c>method</c>, <c>--method</c>).</param>
/// <param name="Description">One line for help texts.</param>
/// <param name="DefaultLr">The learning rate used when none is given (measured; docs/results.md, "Finetuning defaults").</param>
/// <param name="ClipGradNorm">Global gradient-norm clip of the loop (0 = none).</param>
/// <param name="NeedsMemoryLayer">Whether the model must have a memory layer.</param>
/// <param name="NeedsBackground">Whether, for a config, the method needs background statistics.</param>
/// <param name="Trains">Whether, for a config, an exported weight (by name) may change: what the method declares trainable.</param>
/// <param name="Label">A short description of a configured run for tables (e.g. <c>sparse t=512 (sgd, tf_idf)</c>).</param>
/// <param name="Create">Builds the training method for a config, a learning rate and background statistics.</param>
/// <param name="Validate">Adds the method-specific problems of a config (its section, its registry names).</param>
public sealed record FinetuneMethodSpec(
    string Name,
    string Description,
    double DefaultLr,
    double ClipGradNorm,
    bool NeedsMemoryLayer,
    Func<FinetuneConfig, bool> NeedsBackground,
    Func<FinetuneConfig, string, bool> Trains,
    Func<FinetuneConfig, string> Label,
    Func<FinetuneConfig, double, BackgroundStats?, ITrainingMethod> Create,
    Action<FinetuneConfig, List<string>>? Validate = null) : INamedEntry;

/// <summary>
/// The finetuning methods. Adding one is a new file with an <see cref="ITrainingMethod"/> and a static
/// <see cref="FinetuneMethodSpec"/>, plus one line here (docs/architecture.md#registries).
/// </summary>
public static class FinetuneMethods
{
    /// <summary>Every method; the first is the default.</summary>
    public static readonly Registry<FinetuneMethodSpec> Registry = new("method",
    [
        SparseMemoryMethod.Spec,
        SparseMemoryMethod.MemoryAllSpec,
        FullFinetuning.Spec,
        LoraMethod.Spec,
    ]);

    /// <summary>The spec of <paramref name="cfg"/>'s method (a clear error when unknown).</summary>
    public static FinetuneMethodSpec Spec(FinetuneConfig cfg) => Registry.Get(cfg.Method, "method");

    /// <summary>The lr in effect: the config's, or the method's default.</summary>
    public static double EffectiveLr(FinetuneConfig cfg) => cfg.Lr ?? Spec(cfg).DefaultLr;

    /// <summary>Every problem of a config at once: structural ones and those of its method.</summary>
    public static List<string> Validate(FinetuneConfig cfg)
    {
        var e = cfg.Validate().ToList();
        if (Registry.Find(cfg.Method) is not { } spec)
        {
            if (!string.IsNullOrWhiteSpace(cfg.Method)) e.Add(Registry.UnknownMessage(cfg.Method, "method"));
            return e;
        }
        spec.Validate?.Invoke(cfg, e);
        if (spec.NeedsMemoryLayer && cfg.Model is { Memory: null }) e.Add($"method {spec.Name} needs a model with a memory layer");
        if (cfg.Model is { } model && model.Dtype != ModelConfig.Float32 && BackboneWeights(model).FirstOrDefault(w => spec.Trains(cfg, w)) is { } trained)
            e.Add($"method {spec.Name} trains {trained}, but the base model keeps its backbone in {model.Dtype} (model.dtype) and finetuning updates " +
                  $"float32 weights only: import it again with --dtype {ModelConfig.Float32} (--set import.dtype={ModelConfig.Float32}, the default), or add memory " +
                  "with smf retrofit (memory layers are float32 in every model) and finetune that with --method sparse (docs/own-model.md#kept-dtypes)");
        return e;
    }

    /// <summary>
    /// The state-dict names of a model's backbone (everything but the memory): the weights a 16-bit model stores in its
    /// <see cref="ModelConfig.Dtype"/>. A memory block's FFN names are listed too; a method declaring them changes nothing.
    /// </summary>
    static IEnumerable<string> BackboneWeights(ModelConfig m)
    {
        yield return "tok_embeddings.weight";
        for (int i = 0; i < m.Layers; i++)
        {
            foreach (string n in new[] { "attention_norm", "ffn_norm" }) yield return $"layers.{i}.{n}.weight";
            foreach (string p in new[] { "wq", "wk", "wv", "wo" })
            {
                yield return $"layers.{i}.attention.{p}.weight";
                if (m.QkvBias && p != "wo") yield return $"layers.{i}.attention.{p}.bias";
            }
            foreach (string p in new[] { "w1", "w2", "w3" }) yield return $"layers.{i}.feed_forward.{p}.weight";
        }
        yield return "norm.weight";
        if (!m.TieEmbeddings) yield return "output.weight";
    }

    /// <summary>The config with every registry name in its canonical spelling (what a run folder freezes).</summary>
    public static FinetuneConfig Canonical(FinetuneConfig cfg) => cfg with
    {
        Method = Registry.Find(cfg.Method)?.Name ?? cfg.Method,
        Sparse = cfg.Sparse with
        {
            Ranker = SlotRankers.Registry.Find(cfg.Sparse.Ranker)?.Name ?? cfg.Sparse.Ranker,
            Optimizer = RowOptimizers.Registry.Find(cfg.Sparse.Optimizer)?.Name ?? cfg.Sparse.Optimizer,
        },
    };

    /// <summary>Builds the method of a config, loading the background statistics it needs from the base checkpoint.</summary>
    public static ITrainingMethod Create(FinetuneConfig cfg, string baseDir) => Create(cfg, LoadBackground(cfg, baseDir));

    /// <summary>Builds the method of a config with already loaded background statistics.</summary>
    public static ITrainingMethod Create(FinetuneConfig cfg, BackgroundStats? background) => Spec(cfg).Create(cfg, EffectiveLr(cfg), background);

    /// <summary>Value of <c>sparse.background</c> that computes the statistics from the learning stream itself (an ablation).</summary>
    public const string StreamBackground = "stream";

    /// <summary>Whether the config asks for background statistics computed from its own stream (the finetune run builds them).</summary>
    public static bool BackgroundFromStream(FinetuneConfig cfg) => cfg.Sparse.Background == StreamBackground && Spec(cfg).NeedsBackground(cfg);

    /// <summary>The background statistics the config's method needs (null when it needs none), checked against the checkpoint.</summary>
    public static BackgroundStats? LoadBackground(FinetuneConfig cfg, string baseDir)
    {
        if (!Spec(cfg).NeedsBackground(cfg)) return null;
        if (BackgroundFromStream(cfg))
            throw new ConfigException("sparse.background=stream: the statistics come from the fact stream; only `smf finetune` (FinetuneRun) builds them");
        string path = cfg.Sparse.Background ?? Path.Combine(baseDir, BackgroundStatsBuilder.FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: background statistics not found; run `smf background --model {baseDir}` first (or pass --background FILE)", path);
        return LoadBackgroundFile(path, baseDir);
    }

    /// <summary>Background statistics from <paramref name="path"/>, refused unless computed for the checkpoint in <paramref name="baseDir"/>.</summary>
    public static BackgroundStats LoadBackgroundFile(string path, string baseDir)
    {
        var bg = BackgroundStats.Load(path);
        try { bg.EnsureMatches(Checkpoint.Fingerprint(baseDir), path); }
        catch (InvalidOperationException e) { throw new InvalidDataException(e.Message); }
        return bg;
    }

    /// <summary>
    /// Loop settings of a finetuning run: constant lr, no warmup, the method's gradient clip (the dense baselines clip
    /// at 1; the sparse methods do not, their update is already confined to t rows); AdamW β = (0.9, 0.999).
    /// </summary>
    public static LoopSettings Loop(FinetuneConfig cfg, int steps) =>
        new(steps, 0, 1.0, Spec(cfg).ClipGradNorm, cfg.LogEvery, cfg.EvalEvery > 0 ? cfg.EvalEvery : steps, cfg.CheckpointEvery, 0.9, 0.999, 1e-8);
}
