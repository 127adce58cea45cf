using SparseMemory.Checkpoints;
using System.CommandLine;
using SparseMemory.Finetuning;

namespace SparseMemory.Cli;

/// <summary><c>smf background</c>.</summary>
public static class BackgroundCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Checkpoint folder", Required = true };
        var batches = new Option<int>("--batches") { Description = "Background batches |B| (the paper: 1000)", DefaultValueFactory = _ => 1000 };
        var batchSize = new Option<int>("--batch-size") { Description = "Sequences per batch (default: the finetuning paraphrase count)", DefaultValueFactory = _ => 16 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence (default: about one fact statement)", DefaultValueFactory = _ => 32 };
        var seed = new Option<int>("--seed") { Description = "Batch sampling seed", DefaultValueFactory = _ => 1 };
        var corpus = new Option<string?>("--corpus") { Description = "Background text: pretrain (default: the model's own pretraining text), an embedded fact set (known, new) or facts file, nq (NaturalQuestions questions), or a .txt file" };
        var outFile = new Option<string?>("--out") { Description = $"Output file (default: MODEL/{BackgroundStatsBuilder.FileName})" };
        var cmd = new Command("background", "Record per-slot background access statistics (document frequency over |B| pretraining batches) for TF-IDF/KL ranking")
        {
            model, batches, batchSize, seqLen, seed, corpus, outFile,
        };
        cmd.SetAction(pr =>
        {
            if (pr.GetValue(batchSize) <= 0 || pr.GetValue(seqLen) <= 1) throw new ArgumentException("--batch-size must be ≥ 1 and --seq-len ≥ 2");
            string dir = pr.GetValue(model)!;
            var stats = BackgroundStatsBuilder.Build(dir, pr.GetValue(batches), pr.GetValue(batchSize), pr.GetValue(seqLen), pr.GetValue(seed), (done, total) => Console.Error.WriteLine($"background batch {done}/{total}"), pr.GetValue(corpus));
            string path = pr.GetValue(outFile) ?? Path.Combine(dir, BackgroundStatsBuilder.FileName);
            // A killed earlier run may have left the temp file of its write beside the output.
            foreach (string f in AtomicFile.DeleteLeftovers(Path.GetDirectoryName(Path.GetFullPath(path))!))
                Console.Error.WriteLine($"removed {f}, left by an interrupted write");
            stats.Save(path);
            var df = stats.DocumentFrequency.ToArray();
            long used = df.Count(x => x > 0), everywhere = df.Count(x => x == stats.NumBatches);
            Console.WriteLine($"background: {stats.NumBatches} batches; {used:N0} of {stats.SlotCount:N0} slots read at least once, {everywhere:N0} read in every batch (idf 0) → {path}");
            return 0;
        });
        return cmd;
    }
}
