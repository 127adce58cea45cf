using System.Text.Json.Nodes;
using SparseMemory.Cli;
using SparseMemory.Tests.Finetuning;
using Xunit;

namespace SparseMemory.Tests.Cli;

public sealed class FinetuneCliTests(FinetuneFixture fx) : IClassFixture<FinetuneFixture>
{
    [Fact]
    public void Idf_from_the_stream_itself_is_an_ablation_switch()
    {
        string outDir = Path.Combine(fx.Root, "stream-idf");
        var (code, _, err) = Smf.Run("finetune", "--model", fx.BaseDir, "--top-t", "5", "--lr", "5", "--data", fx.FactsPath, "--steps", "3",
            "--out", outDir, "--set", "data.paraphrases=4", "--set", "sparse.background=stream", "--set", "probes=[]");
        Assert.True(code == 0, err);
        Assert.Contains("background statistics from the stream itself", err);
        var rows = File.ReadLines(Path.Combine(outDir, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!).Skip(1).ToList();
        Assert.All(rows, r => Assert.Equal(5, r["selected_slots"]!.GetValue<double>()));
        var (dcode, dout, _) = Smf.Run("diff", fx.BaseDir, outDir, "--json");
        Assert.Equal(0, dcode);
        var changed = JsonNode.Parse(dout)!["tensors"]!.AsArray().Where(t => t!["changed_elements"]!.GetValue<long>() > 0).Select(t => t!["name"]!.GetValue<string>());
        Assert.Equal(["memory_values.weight"], changed);
    }

    [Fact]
    public void Coreset_reports_core_within_union_and_the_t_tried_per_fact()
    {
        string outFile = Path.Combine(fx.Root, "coreset.jsonl");
        var (code, output, err) = Smf.Run("coreset", "--model", fx.BaseDir, "--data", fx.FactsPath, "--facts", "2", "--top-t", "4,32",
            "--steps", "2", "--out", outFile, "--set", "data.paraphrases=4");
        Assert.True(code == 0, err);
        Assert.Contains("core ∩ question", output);
        var rows = File.ReadAllLines(outFile).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(2, rows.Count);
        foreach (var r in rows)
        {
            long union = r["union_slots"]!.GetValue<long>(), core = r["core_slots"]!.GetValue<long>(), both = r["core_also_read_by_question"]!.GetValue<long>();
            Assert.InRange(core, 0, union);
            Assert.InRange(both, 0, Math.Min(core, r["question_slots"]!.GetValue<long>()));
            Assert.Equal(["4", "32"], r["answered_at"]!.AsObject().Select(kv => kv.Key));
        }
        // The model is left as loaded: the base checkpoint is untouched.
        Assert.False(File.Exists(Path.Combine(fx.BaseDir, "checkpoint.commit")));
    }

    [Fact]
    public void Background_statistics_from_another_corpus()
    {
        string outFile = Path.Combine(fx.Root, "bg-facts.safetensors");
        var (code, _, err) = Smf.Run("background", "--model", fx.BaseDir, "--batches", "5", "--corpus", fx.FactsPath, "--out", outFile);
        Assert.True(code == 0, err);
        var stats = SparseMemory.Finetuning.BackgroundStats.Load(outFile);
        Assert.Equal(5, stats.NumBatches);
        var pretrain = SparseMemory.Finetuning.BackgroundStats.Load(Path.Combine(fx.BaseDir, "background.safetensors"));
        Assert.NotEqual(pretrain.DocumentFrequency.ToArray(), stats.DocumentFrequency.ToArray());
        var (bad, _, badErr) = Smf.Run("background", "--model", fx.BaseDir, "--batches", "5", "--corpus", Path.Combine(fx.Root, "none.txt"), "--out", outFile + "2");
        Assert.NotEqual(0, bad);
        Assert.Contains("none.txt", badErr);
    }

    [Fact]
    public void Dry_run_on_a_triviaqa_file_prints_the_paraphrases_tokens_and_padding_and_writes_nothing()
    {
        string tqa = Path.Combine(fx.Root, "tqa.jsonl");
        File.WriteAllLines(tqa,
        [
            """{"context": "Question: Flanders is part of what country?\nAnswer:", "answer": "Belgium", "aliases": ["Belgium"]}""",
            """{"context": "Question: What type of animal is a dik-dik?\nAnswer:", "answer": "Antelope", "aliases": ["Antelope"]}""",
        ]);
        string outDir = Path.Combine(fx.Root, "dry");
        var (code, output, err) = Smf.Run("finetune", "--model", fx.BaseDir, "--data", tqa, "--dry-run", "--show", "2",
            "--out", outDir, "--set", "data.paraphrases=4", "--set", "data.shuffle=false",
            "--set", "data.allow_question_form=true", "--set", "data.question_fraction=0.5");
        Assert.True(code == 0, err);
        Assert.Contains("step 0: fact tqa-0001 — evaluation question (held out): Flanders is part of what country?  A: Belgium  (4 lines, 2 questions", output);
        Assert.Contains("[question ]", output);
        Assert.Contains("[statement]", output);
        Assert.Contains("from: self-quiz (", output);
        Assert.Contains("from: statement 1", output);
        Assert.DoesNotContain("Flanders is part of what country?\\nAnswer", output);
        Assert.Contains("step 1: fact tqa-0002", output);
        Assert.Contains("pad]", output);
        Assert.Contains("|<|endoftext|>", output);
        Assert.False(Directory.Exists(outDir));
    }


    [Fact]
    public void Sparse_finetune_then_diff_changes_at_most_t_rows_per_step_and_nothing_else()
    {
        string outDir = Path.Combine(fx.Root, "cli-sparse");
        var (code, _, err) = Smf.Run("finetune", "--model", fx.BaseDir, "--method", "sparse", "--top-t", "5", "--lr", "5",
            "--data", fx.FactsPath, "--steps", "4", "--out", outDir, "--set", "data.paraphrases=4", "--set", "probes=[\"target-f1\"]", "--set", "probe_limit=3");
        Assert.True(code == 0, err);
        var (dcode, dout, derr) = Smf.Run("diff", fx.BaseDir, outDir, "--json");
        Assert.True(dcode == 0, derr);
        var json = JsonNode.Parse(dout)!;
        var changed = json["tensors"]!.AsArray().Where(t => t!["changed_elements"]!.GetValue<long>() > 0).Select(t => t!["name"]!.GetValue<string>()).ToList();
        Assert.Equal(["memory_values.weight"], changed);
        long slots = json["changed_slots"]!.GetValue<long>();
        Assert.InRange(slots, 1, 5 * 4);
        foreach (var f in new[] { "model.safetensors", "config.json", "tokenizer.json", "metrics.jsonl", "summary.json" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        var rows = File.ReadLines(Path.Combine(outDir, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(5, rows[1]["selected_slots"]!.GetValue<double>());
        // grad_norm is the norm of the selected rows' gradient (autograd has none to report); tokens exclude padding.
        Assert.True(rows[1]["grad_norm"]!.GetValue<double>() > 0);
        var cfg = SparseMemory.Config.ConfigLoader.ReadFile<SparseMemory.Config.FinetuneConfig>(Path.Combine(outDir, "config.json"));
        var (resolved, facts) = SparseMemory.Runs.FinetuneRun.Resolve(cfg);
        var tok = SparseMemory.Data.ByteLevelBpeTokenizer.Load(Path.Combine(outDir, "tokenizer.json"));
        var stream = SparseMemory.Runs.FinetuneRun.Stream(resolved, facts, tok);
        long real = Enumerable.Range(0, 4).Sum(s => stream.Get(s).ValidMask!.sum().item<long>());
        Assert.Equal(real, rows[^1]["tokens"]!.GetValue<long>());
        // The target probe runs at step 0 and at the end, on the facts of the stream.
        Assert.NotNull(rows[0]["target-f1/f1"]);
        Assert.NotNull(rows[^1]["target-f1/f1"]);
        Assert.Equal(4, SparseMemory.Data.Facts.FactsFile.Read(Path.Combine(outDir, "stream_facts.jsonl")).Count);
    }

    [Theory]
    [InlineData("--top-t", "0", "top_t")]
    [InlineData("--method", "dense", "method: unknown method \"dense\"")]
    [InlineData("--ranker", "bm25", "sparse.ranker: unknown ranker \"bm25\"")]
    public void Bad_options_give_a_clear_error_and_write_nothing(string option, string value, string mentioned)
    {
        string outDir = Path.Combine(fx.Root, "bad-" + Guid.NewGuid().ToString("N")[..6]);
        var (code, _, err) = Smf.Run("finetune", "--model", fx.BaseDir, option, value, "--data", fx.FactsPath, "--steps", "2", "--out", outDir, "--set", "probes=[]");
        Assert.Equal(2, code);
        Assert.Contains(mentioned, err);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void Background_statistics_of_another_checkpoint_are_refused()
    {
        // Finetune once, compute background stats for the *finetuned* model, then use them with the base model.
        string other = Path.Combine(fx.Root, "other");
        Assert.Equal(0, Smf.Run("finetune", "--model", fx.BaseDir, "--method", "memory-all", "--lr", "1", "--data", fx.FactsPath, "--steps", "1", "--out", other, "--set", "probes=[]").Code);
        Assert.Equal(0, Smf.Run("background", "--model", other, "--batches", "3", "--batch-size", "2", "--seq-len", "8").Code);
        string outDir = Path.Combine(fx.Root, "mismatch");
        var (code, _, err) = Smf.Run("finetune", "--model", fx.BaseDir, "--background", Path.Combine(other, "background.safetensors"),
            "--data", fx.FactsPath, "--steps", "2", "--out", outDir, "--set", "probes=[]");
        Assert.Equal(2, code);
        Assert.Contains("background", err);
        Assert.Contains("smf background", err);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void Bench_on_a_checkpoint_times_every_method_on_its_real_fact_batches()
    {
        var (code, output, err) = Smf.Run("bench", "--model", fx.BaseDir, "--data", fx.FactsPath, "--batch-size", "4",
            "--steps", "2", "--warmup", "1", "--rounds", "1", "--top-t", "8", "--json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        Assert.Contains(fx.BaseDir, doc.RootElement.GetProperty("subject").GetString());
        Assert.Contains("4 paraphrases per step", doc.RootElement.GetProperty("subject").GetString());
        var methods = doc.RootElement.GetProperty("methods").EnumerateArray().ToList();
        Assert.Equal(SparseMemory.Finetuning.FinetuneMethods.Registry.All.Count + SparseMemory.Finetuning.RowOptimizers.Registry.All.Count, methods.Count);
        Assert.All(methods, m => Assert.True(m.GetProperty("median_ms").GetDouble() > 0));
    }

    [Fact]
    public void Bench_quick_on_a_checkpoint_uses_its_fact_batches_and_tokenizer()
    {
        string path = Path.Combine(fx.Root, "bench-suite.json");
        var (code, _, err) = Smf.Run("bench", "--quick", "--model", fx.BaseDir, "--data", fx.FactsPath, "--batch-size", "4", "--memory-keys", "4",
            "--steps", "1", "--warmup", "1", "--rounds", "1", "--warmup-rounds", "0", "--top-t", "8", "--out", path);
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        Assert.Equal(fx.BaseDir, root.GetProperty("checkpoint").GetString());
        Assert.Contains("4 paraphrases per step", root.GetProperty("subject").GetString());
        var scenarios = root.GetProperty("scenarios").EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!);
        Assert.True(scenarios["generation"].GetProperty("tokens_per_s").GetDouble() > 0);
        Assert.True(scenarios["background_stats"].GetProperty("tokens_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("sparse_step_ratio").GetDouble() > 0);
    }

    [Fact]
    public void Bench_on_a_missing_checkpoint_fails_with_the_path()
    {
        string missing = Path.Combine(fx.Root, "no-such-checkpoint");
        var (code, _, err) = Smf.Run("bench", "--model", missing, "--rounds", "1");
        Assert.NotEqual(0, code);
        Assert.Contains(missing, err);
    }
}
