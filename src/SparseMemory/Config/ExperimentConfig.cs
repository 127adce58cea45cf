using System.Text.Json.Nodes;

namespace SparseMemory.Config;

/// <summary>
/// An experiment (<c>smf experiment</c>): one base checkpoint and its background statistics, then every method over its
/// grid on the same fact stream, for each seed, each run probed before, along and after the stream. Presets live in
/// <c>presets/experiments/</c>.
/// </summary>
public sealed record ExperimentConfig
{
    /// <summary>Experiment name (reports).</summary>
    public string Name { get; init; } = "experiment";
    /// <summary>Finetuning seeds (stream order, paraphrase sampling, adapters); every configuration runs once per seed.</summary>
    public int[] Seeds { get; init; } = [1];
    /// <summary>Pretraining preset of the base checkpoint built in <c>OUT/base</c> (ignored when <see cref="BaseModel"/> is set).</summary>
    public string BasePreset { get; init; } = "tiny";
    /// <summary>
    /// Keys of the base pretraining config set over its preset, as a partial pretraining config (e.g.
    /// <c>{"train": {"steps": 300}, "model": {"memory": {"num_keys": 64}}}</c>; unknown keys are errors).
    /// </summary>
    public ConfigOverlay<PretrainConfig> Base { get; init; } = new();
    /// <summary>
    /// Base pretraining keys swept like the grid (e.g. <c>"model.memory.num_keys": [64, 128, 256]</c> for memory size): one
    /// base checkpoint per combination (<c>OUT/base-…</c>), and every grid run on each of them.
    /// </summary>
    public Dictionary<string, JsonNode?[]> BaseSweep { get; init; } = [];
    /// <summary>An existing checkpoint folder to use as the base instead of pretraining one.</summary>
    public string? BaseModel { get; init; }
    /// <summary>
    /// Other existing checkpoints, name → folder, that a grid entry runs on instead of the base with
    /// <c>"model": "NAME"</c>: methods compared across models in one report (a dense model's full finetuning and LoRA
    /// beside sparse memory finetuning of its retrofitted copy, docs/own-model.md#retrofit-here). A preset leaves the
    /// folders null and the command names them: <c>--set models.dense=runs/dense</c>. Background statistics are
    /// computed once next to a model that has memory layers and lacks them.
    /// </summary>
    public Dictionary<string, string?> Models { get; init; } = [];
    /// <summary>Background batches for the statistics (computed once next to the base checkpoint when missing).</summary>
    public int BackgroundBatches { get; init; } = 100;
    /// <summary>
    /// Extra background statistics built once next to the base checkpoint, name → corpus (<c>smf background --corpus</c>:
    /// <c>known</c>, <c>nq</c>, a facts or .txt file), written as <c>background-NAME.safetensors</c>. Grid entries use one
    /// with <c>"finetune": {"sparse": {"background": "{base}/background-NAME.safetensors"}}</c> (<c>{base}</c> is replaced by the base folder).
    /// </summary>
    public Dictionary<string, string> Backgrounds { get; init; } = [];
    /// <summary>
    /// Keys of the finetune config shared by every run (data, paraphrases, steps per fact, …), as a partial finetune config
    /// (e.g. <c>{"data": {"facts": "new", "limit": 100}}</c>), layered over the base model's recipe.
    /// </summary>
    public ConfigOverlay<FinetuneConfig> Finetune { get; init; } = new();
    /// <summary>Probes run before, every <see cref="EvalEvery"/> steps and after each run; <c>target-f1</c> measures learning.</summary>
    public string[] Probes { get; init; } = ["target-f1", "known-facts-f1", "heldout-nll"];
    /// <summary>Items per probe (0 = all).</summary>
    public int ProbeLimit { get; init; } = 100;
    /// <summary>Probe cadence in steps (0 = before and after only).</summary>
    public int EvalEvery { get; init; } = 0;
    /// <summary>The grid: per entry a method and the finetune keys it sweeps (every combination runs).</summary>
    public GridEntry[] Grid { get; init; } = [];

    /// <summary>All structural problems at once (method and key names are checked when the runs are built).</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (string.IsNullOrWhiteSpace(Name)) e.Add("name must not be empty");
        if (Seeds.Length == 0) e.Add("seeds must list at least one seed");
        if (Seeds.Distinct().Count() != Seeds.Length) e.Add("seeds must be distinct");
        if (BaseModel is null && string.IsNullOrWhiteSpace(BasePreset)) e.Add("base_preset or base_model must name the base checkpoint");
        if (BaseModel is not null && BaseSweep.Count > 0) e.Add("base_sweep needs bases built by the experiment; leave base_model unset");
        foreach (var (key, values) in BaseSweep)
            if (values is null || values.Length == 0) e.Add($"base_sweep.{key} must list at least one value");
        foreach (var (name, dir) in Models)
        {
            if (!IsName(name)) e.Add($"models.{name}: names are letters, digits, '-' or '_'");
            else if (string.IsNullOrWhiteSpace(dir)) e.Add($"models.{name}: no checkpoint folder given; pass --set models.{name}=DIR");
        }
        if (BackgroundBatches <= 0) e.Add("background_batches must be ≥ 1");
        foreach (var (name, corpus) in Backgrounds)
            if (!IsName(name) || string.IsNullOrWhiteSpace(corpus))
                e.Add($"backgrounds.{name}: names are letters, digits, '-' or '_', and the corpus must be given");
        if (ProbeLimit < 0) e.Add("probe_limit must be ≥ 0 (0 = all items)");
        if (EvalEvery < 0) e.Add("eval_every must be ≥ 0");
        if (!Probes.Contains("target-f1")) e.Add("probes must include target-f1 (it measures learning)");
        if (Grid.Length == 0) e.Add("grid must have at least one entry");
        for (int i = 0; i < Grid.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(Grid[i].Method)) e.Add($"grid[{i}].method must name a finetuning method");
            if (Grid[i].Model is { } m && !Models.ContainsKey(m))
                e.Add($"grid[{i}].model: \"{m}\" is not one of models ({(Models.Count == 0 ? "none declared" : string.Join(", ", Models.Keys))}); declare it under \"models\"");
            if (Grid[i].Seeds is { } seeds && (seeds.Length == 0 || seeds.Distinct().Count() != seeds.Length))
                e.Add($"grid[{i}].seeds must list distinct seeds (or be left out)");
            foreach (var (key, values) in Grid[i].Sweep)
                if (values is null || values.Length == 0) e.Add($"grid[{i}].sweep.{key} must list at least one value");
        }
        return e;
    }

    static bool IsName(string name) => !string.IsNullOrWhiteSpace(name) && name.All(c => char.IsLetterOrDigit(c) || c is '_' or '-');
}

/// <summary>One method of an experiment and the finetune keys it sweeps.</summary>
public sealed record GridEntry
{
    /// <summary>Finetuning method name (as <c>--method</c>).</summary>
    public string Method { get; init; } = "sparse";
    /// <summary>Finetune key → values (e.g. <c>"lr": [10, 100]</c>, <c>"sparse.top_t": [50, 500]</c>); the grid is their product.</summary>
    public Dictionary<string, JsonNode?[]> Sweep { get; init; } = [];
    /// <summary>Finetune keys of this entry only, as a partial finetune config (e.g. <c>{"sparse": {"ranker": "tf_only"}}</c> for an ablation).</summary>
    public ConfigOverlay<FinetuneConfig> Finetune { get; init; } = new();
    /// <summary>Name of the entry in reports (default: the method), so one method can appear in several entries (ablations).</summary>
    public string? Label { get; init; }
    /// <summary>Seeds of this entry only (default: the experiment's <c>seeds</c>), e.g. one seed for a costly control.</summary>
    public int[]? Seeds { get; init; }
    /// <summary>Runs this entry on the named checkpoint of <see cref="ExperimentConfig.Models"/> instead of the base (default: the base).</summary>
    public string? Model { get; init; }
}
