namespace SparseMemory.Config;

/// <summary>
/// The root of the typed config tree. Flow: defaults (these records) → JSON file → <c>--set key=value</c>
/// → <see cref="Validate"/> → frozen copy written to the run folder. Unknown keys are errors.
/// </summary>
public sealed record PretrainConfig
{
    /// <summary>Run name (used in reports).</summary>
    public string Name { get; init; } = "run";
    /// <summary>Seed of parameter init, data order and sampling.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Torch device: "cpu", "cuda", "cuda:1", …</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Torch intra-op threads (0 = library default, one per core).</summary>
    public int Threads { get; init; } = 0;
    /// <summary>The model architecture.</summary>
    public ModelConfig Model { get; init; } = new();
    /// <summary>Pretraining corpus and tokenizer data.</summary>
    public DataConfig Data { get; init; } = new();
    /// <summary>Pretraining loop.</summary>
    public TrainConfig Train { get; init; } = new();
    /// <summary>
    /// The recipe's finetuning defaults, carried in the checkpoint's <c>config.json</c>: <c>--set</c> overrides of a finetune
    /// config applied before the user's own (so they are defaults), for every method (key <c>*</c>) or one method (its
    /// registered name), e.g. <c>{"*": ["data.steps_per_item=10"], "sparse": ["lr=100"]}</c>. See docs/method.md#recipe.
    /// </summary>
    public Dictionary<string, string[]> Finetune { get; init; } = [];

    /// <summary>
    /// A lower bound, in bytes, of the memory pretraining needs: the parameters (embedding V × D, twice when untied;
    /// attention 4·D² per block; the SwiGLU FFN 3·D·F per block without memory; the value table S × Dv) in float32
    /// with AdamW's two moments (12 bytes each; gradients not counted), and one float32 activation of D per token,
    /// block and step. The real need is larger; a config above the machine's memory can never run. Computed in double,
    /// so no setting overflows it.
    /// </summary>
    public (double ModelBytes, double ActivationBytes, double Parameters) TrainingMemoryLowerBound()
    {
        double d = Model.Dim, layers = Model.Layers;
        double memoryBlocks = Model.Memory?.Layers.Distinct().Count() ?? 0;
        double parameters = (double)Model.VocabSize * d * (Model.TieEmbeddings ? 1 : 2) + layers * 4 * d * d
                            + (layers - memoryBlocks) * 3 * d * Model.FfnHidden
                            + (Model.Memory is { } m ? (double)m.Slots * m.ResolvedValueDim(Model.Dim) : 0);
        double activations = (double)Train.BatchSize * Train.SeqLen * d * layers * 4;
        return (parameters * 12, activations, parameters);
    }

    static string Gib(double bytes) => bytes >= 1 << 30 ? $"{bytes / (1 << 30):N1} GiB" : bytes >= 1 << 20 ? $"{bytes / (1 << 20):N0} MiB" : "< 1 MiB";

    /// <summary>All problems at once, as "key: problem" lines; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Name)) errors.Add("name must not be empty");
        if (Threads < 0) errors.Add($"threads must be ≥ 0, got {Threads}");
        if (!Devices.IsValid(Device)) errors.Add($"device must be {Devices.Choices}, got \"{Device}\"");
        Model.Validate(errors, "model");
        if (Model.Dtype != ModelConfig.Float32 && ModelConfig.Dtypes.Contains(Model.Dtype))
            errors.Add($"model.dtype is \"{Model.Dtype}\"; pretraining trains float32 weights only (bfloat16 and float16 are for imported models: smf import --dtype)");
        Data.Validate(errors, "data");
        Train.Validate(errors, "train", Model);
        bool sized = Model.VocabSize > 0 && Model.Dim > 0 && Model.Layers > 0 && Model.FfnHidden > 0 && Train.BatchSize > 0 && Train.SeqLen > 0;
        if (sized && Device == "cpu" && TrainingMemoryLowerBound() is var (model, activations, parameters))
        {
            double have = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            if (have > 0 && model + activations > have)
                errors.Add($"model and train settings need at least {Gib(model + activations)} of memory to pretrain, more than the {Gib(have)} this machine has: " +
                           $"{parameters:N0} parameters (model.vocab_size {Model.VocabSize:N0} × model.dim {Model.Dim:N0}, …) take ≥ {Gib(model)} with their AdamW moments, and " +
                           $"train.batch_size × train.seq_len = {(double)Train.BatchSize * Train.SeqLen:N0} tokens per step ≥ {Gib(activations)} of activations; lower them");
        }
        foreach (var (method, overrides) in Finetune)
        {
            if (string.IsNullOrWhiteSpace(method)) errors.Add("finetune: keys are \"*\" or a finetuning method name");
            foreach (var o in overrides ?? [])
                if (o is null || o.IndexOf('=') <= 0) errors.Add($"finetune.{method}: \"{o}\" is not key=value");
                else if (o.StartsWith("model", StringComparison.Ordinal) || o.StartsWith("base_model", StringComparison.Ordinal) || o.StartsWith("method=", StringComparison.Ordinal))
                    errors.Add($"finetune.{method}: \"{o}\" cannot be a recipe default (the model, base model and method are chosen per run)");
        }
        return errors;
    }
}
