using System.Text.Json.Nodes;
using SparseMemory.Cli;
using SparseMemory.Tests.Finetuning;
using Xunit;

namespace SparseMemory.Tests.Cli;

public sealed class FinetuneCliTests(FinetuneFixture fx) : IClassFixture<FinetuneFixture>
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (o, e) = (Console.Out, Console.Error);
        var (so, se) = (new StringWriter(), new StringWriter());
        Console.SetOut(so); Console.SetError(se);
        try { return (CliRunner.Invoke(SmfApp.CreateRoot(), args), so.ToString(), se.ToString()); }
        finally { Console.SetOut(o); Console.SetError(e); }
    }

    [Fact]
    public void Sparse_finetune_then_diff_changes_at_most_t_rows_per_step_and_nothing_else()
    {
        string outDir = Path.Combine(fx.Root, "cli-sparse");
        var (code, _, err) = Run("finetune", "--model", fx.BaseDir, "--method", "sparse", "--top-t", "5", "--lr", "5",
            "--data", fx.FactsPath, "--steps", "4", "--out", outDir, "--set", "data.paraphrases=4");
        Assert.True(code == 0, err);
        var (dcode, dout, derr) = Run("diff", fx.BaseDir, outDir, "--json");
        Assert.True(dcode == 0, derr);
        var json = JsonNode.Parse(dout)!;
        var changed = json["tensors"]!.AsArray().Where(t => t!["changed_elements"]!.GetValue<long>() > 0).Select(t => t!["name"]!.GetValue<string>()).ToList();
        Assert.Equal(["memory_values.weight"], changed);
        long slots = json["changed_slots"]!.GetValue<long>();
        Assert.InRange(slots, 1, 5 * 4);
        foreach (var f in new[] { "model.safetensors", "config.json", "tokenizer.json", "metrics.jsonl", "summary.json" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        var row = JsonNode.Parse(File.ReadLines(Path.Combine(outDir, "metrics.jsonl")).Skip(1).First())!;
        Assert.Equal(5, row["selected_slots"]!.GetValue<double>());
    }

    [Theory]
    [InlineData("--top-t", "0", "top_t")]
    [InlineData("--method", "dense", "--method")]
    [InlineData("--ranker", "bm25", "--ranker")]
    public void Bad_options_give_a_clear_error_and_write_nothing(string option, string value, string mentioned)
    {
        string outDir = Path.Combine(fx.Root, "bad-" + Guid.NewGuid().ToString("N")[..6]);
        var (code, _, err) = Run("finetune", "--model", fx.BaseDir, option, value, "--data", fx.FactsPath, "--steps", "2", "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains(mentioned, err);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void Background_statistics_of_another_checkpoint_are_refused()
    {
        // Finetune once, compute background stats for the *finetuned* model, then use them with the base model.
        string other = Path.Combine(fx.Root, "other");
        Assert.Equal(0, Run("finetune", "--model", fx.BaseDir, "--method", "memory-all", "--lr", "1", "--data", fx.FactsPath, "--steps", "1", "--out", other).Code);
        Assert.Equal(0, Run("background", "--model", other, "--batches", "3", "--batch-size", "2", "--seq-len", "8").Code);
        string outDir = Path.Combine(fx.Root, "mismatch");
        var (code, _, err) = Run("finetune", "--model", fx.BaseDir, "--background", Path.Combine(other, "background.safetensors"),
            "--data", fx.FactsPath, "--steps", "2", "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("background", err);
        Assert.Contains("smf background", err);
        Assert.False(Directory.Exists(outDir));
    }
}
