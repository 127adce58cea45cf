using SparseMemory.Config;
using SparseMemory.Runs;
using SparseMemory.Training;
using Xunit;

namespace SparseMemory.Tests.Runs;

/// <summary>A base model's finetuning defaults (its recipe): stored with the checkpoint, applied before the user's choices.</summary>
public class FinetuneRecipeTests
{
    static readonly Dictionary<string, string[]> Recipe = new()
    {
        ["*"] = ["data.paraphrases=4", "data.steps_per_item=2"],
        ["sparse"] = ["lr=77", "sparse.top_t=33"],
        ["memory-all"] = ["lr=5"],
    };

    [Fact]
    public void Sets_are_the_shared_ones_then_the_methods_own()
    {
        Assert.Equal(["data.paraphrases=4", "data.steps_per_item=2", "lr=77", "sparse.top_t=33"], FinetuneRecipe.Sets(Recipe, "sparse"));
        Assert.Equal(["data.paraphrases=4", "data.steps_per_item=2", "lr=5"], FinetuneRecipe.Sets(Recipe, "memory_all"));
        Assert.Equal(["data.paraphrases=4", "data.steps_per_item=2"], FinetuneRecipe.Sets(Recipe, "full"));
    }

    [Fact]
    public void Bad_recipes_are_rejected_with_the_key()
    {
        var problems = FinetuneRecipe.Problems(new Dictionary<string, string[]> { ["nope"] = ["lr=1"], ["sparse"] = ["sparse.no_such_key=1"] });
        Assert.Contains(problems, p => p.StartsWith("finetune.nope:"));
        Assert.Contains(problems, p => p.StartsWith("finetune.sparse:") && p.Contains("no_such_key"));
        var cfg = new PretrainConfig { Finetune = new() { ["*"] = ["model.dim=8", "oops"] } };
        Assert.Contains(cfg.Validate(), e => e.Contains("model.dim=8"));
        Assert.Contains(cfg.Validate(), e => e.Contains("\"oops\" is not key=value"));
    }

    [Fact]
    public void A_checkpoint_carries_its_recipe_to_finetune_and_experiment_and_the_user_still_wins()
    {
        string root = Fixtures.TempDir("recipe");
        string baseDir = Path.Combine(root, "base");
        Pretraining.Run(Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 2) with { Finetune = Recipe }, baseDir, NullObserver.Instance);
        Assert.Equal(Recipe.Keys.Order(), FinetuneRecipe.Of(baseDir).Keys.Order());

        var (code, output, err) = Smf.Run("finetune", "--model", baseDir, "--dry-run", "--show", "1");
        Assert.True(code == 0, err);
        Assert.Contains("(4 lines", output);
        (code, output, err) = Smf.Run("finetune", "--model", baseDir, "--dry-run", "--show", "1", "--set", "data.paraphrases=3");
        Assert.True(code == 0, err);
        Assert.Contains("(3 lines", output);

        // smf coreset learns each fact with the same recipe (its batches hold the recipe's paraphrases), the user still wins.
        (code, _, err) = Smf.Run("background", "--model", baseDir, "--batches", "2");
        Assert.True(code == 0, err);
        foreach (var (sets, paraphrases) in new[] { (Array.Empty<string>(), 4), (["--set", "data.paraphrases=3"], 3) })
        {
            string rowsFile = Path.Combine(root, $"coreset-{paraphrases}.jsonl");
            (code, _, err) = Smf.Run(["coreset", "--model", baseDir, "--facts", "1", "--top-t", "4", "--out", rowsFile, .. sets]);
            Assert.True(code == 0, err);
            Assert.Equal(paraphrases, System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllLines(rowsFile).Single())!["paraphrases"]!.GetValue<int>());
        }

        var exp = ExperimentRun.LoadConfig("smoke", null, [$"base_model={baseDir}"]) with
        {
            Grid = [new GridEntry { Method = "sparse", Sweep = new() { ["lr"] = [System.Text.Json.Nodes.JsonValue.Create(9.0)] } }, new GridEntry { Method = "full" }],
            Finetune = new(new System.Text.Json.Nodes.JsonObject { ["data"] = new System.Text.Json.Nodes.JsonObject { ["steps_per_item"] = 3 } }),
        };
        var runs = ExperimentRun.Plan(exp, Path.Combine(root, "exp"));
        var sparse = runs.First(r => r.Method == "sparse").Config;
        Assert.Equal((9.0, 33, 4, 3), (sparse.Lr!.Value, sparse.Sparse.TopT, sparse.Data.Paraphrases, sparse.Data.StepsPerItem));
        var full = runs.First(r => r.Method == "full").Config;
        Assert.Null(full.Lr);                                    // the sparse lr is not a default of full finetuning
        Assert.Equal(4, full.Data.Paraphrases);
    }
}

public class QuestionFractionConfigTests
{
    [Theory]
    [InlineData("data.question_fraction=1.5", "between 0 and 1")]
    [InlineData("data.question_fraction=0.2", "needs data.allow_question_form=true")]
    public void Bad_question_fractions_are_rejected(string set, string message)
    {
        var cfg = SparseMemory.Config.ConfigLoader.Load<SparseMemory.Config.FinetuneConfig>(null, null, ["base_model=x", set]);
        Assert.Contains(cfg.Validate(), e => e.Contains(message));
    }
}
