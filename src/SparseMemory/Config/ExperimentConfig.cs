namespace SparseMemory.Config;

/// <summary>
/// The root of the typed config tree. Flow: defaults (these records) → JSON file → <c>--set key=value</c>
/// → <see cref="Validate"/> → frozen copy written to the run folder. Unknown keys are errors.
/// </summary>
public sealed record ExperimentConfig
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

    /// <summary>All problems at once, as "key: problem" lines; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Name)) errors.Add("name must not be empty");
        if (Threads < 0) errors.Add($"threads must be ≥ 0, got {Threads}");
        if (!(Device == "cpu" || Device.StartsWith("cuda", StringComparison.Ordinal) || Device == "mps"))
            errors.Add($"device must be cpu, cuda, cuda:N or mps, got \"{Device}\"");
        Model.Validate(errors, "model");
        Data.Validate(errors, "data");
        Train.Validate(errors, "train", Model);
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
