using System.Text.Json;
using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Finetuning;

namespace SparseMemory.Runs;

/// <summary>
/// A base model's finetuning defaults (<see cref="PretrainConfig.Finetune"/>, frozen into its <c>config.json</c>): the
/// settings its recipe was measured with, applied before the user's overrides by <c>smf finetune</c> and
/// <c>smf experiment</c>. See docs/method.md#recipe.
/// </summary>
public static class FinetuneRecipe
{
    /// <summary>The overrides of <paramref name="recipe"/> for <paramref name="method"/>: the <c>*</c> entry, then the method's own.</summary>
    public static IReadOnlyList<string> Sets(IReadOnlyDictionary<string, string[]> recipe, string method)
    {
        var sets = new List<string>();
        if (recipe.TryGetValue("*", out var all)) sets.AddRange(all);
        var spec = FinetuneMethods.Registry.Find(method);
        foreach (var (key, overrides) in recipe)
            if (key != "*" && spec is not null && FinetuneMethods.Registry.Find(key) == spec) sets.AddRange(overrides);
        return sets;
    }

    /// <summary>The overrides for <paramref name="method"/> from the recipe stored in checkpoint folder <paramref name="dir"/>.</summary>
    public static IReadOnlyList<string> For(string dir, string method) => Sets(Of(dir), method);

    /// <summary>The recipe stored in checkpoint folder <paramref name="dir"/> (empty when it has none, e.g. older checkpoints).</summary>
    public static IReadOnlyDictionary<string, string[]> Of(string dir)
    {
        var (_, tree) = Checkpoint.ReadModelConfig(dir);
        if (tree["finetune"] is not JsonObject node) return new Dictionary<string, string[]>();
        try { return node.Deserialize<Dictionary<string, string[]>>(ConfigLoader.Json) ?? []; }
        catch (JsonException e) { throw new InvalidDataException($"{Path.Combine(dir, Checkpoint.ConfigFile)}: finetune: {e.Message}; expected {{\"*\": [\"key=value\", …], \"METHOD\": […]}}"); }
    }

    /// <summary>Problems of a recipe: unknown method keys and overrides a finetune config rejects.</summary>
    public static List<string> Problems(IReadOnlyDictionary<string, string[]> recipe)
    {
        var e = new List<string>();
        foreach (var (key, overrides) in recipe)
        {
            if (key != "*" && FinetuneMethods.Registry.Find(key) is null) { e.Add("finetune." + key + ": " + FinetuneMethods.Registry.UnknownMessage(key, "method")); continue; }
            try { ConfigLoader.Load<FinetuneConfig>(null, null, overrides); }
            catch (ConfigException x) { e.Add($"finetune.{key}: {x.Message}"); }
        }
        return e;
    }
}
