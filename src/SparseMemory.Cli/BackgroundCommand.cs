using System.CommandLine;
using SparseMemory.Config;
using SparseMemory.Finetuning;
using SparseMemory.Runs;

namespace SparseMemory.Cli;

/// <summary>
/// <c>smf background</c>. Every flag is a shortcut for a key of <see cref="BackgroundConfig"/> (defaults →
/// <c>--config</c> → flags → <c>--set</c>); the resolved config is frozen beside the statistics file.
/// </summary>
public static class BackgroundCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var d = new BackgroundConfig();
        // No option has a default here: the defaults live in BackgroundConfig, so a flag overrides --config only when given.
        var model = new Option<string?>("--model") { Description = "Checkpoint folder (required here or in --config; key model)" };
        var batches = new Option<int?>("--batches") { Description = $"Background batches |B| (the paper: 1000; default {d.Batches}; key batches)" };
        var batchSize = new Option<int?>("--batch-size") { Description = $"Sequences per batch (default {d.BatchSize}, the finetuning paraphrase count; key batch_size)" };
        var seqLen = new Option<int?>("--seq-len") { Description = $"Tokens per sequence (default {d.SeqLen}, about one fact statement; key seq_len)" };
        var seed = new Option<int?>("--seed") { Description = $"Batch sampling seed (default {d.Seed}; key seed)" };
        var corpus = new Option<string?>("--corpus") { Description = "Background text: pretrain (default: the model's own pretraining text), an embedded fact set (known, new) or facts file, nq (NaturalQuestions questions), or a .txt file (key corpus)" };
        var outFile = new Option<string?>("--out") { Description = $"Output file (default: MODEL/{BackgroundStatsBuilder.FileName}); the resolved config is frozen beside it as NAME-config.json" };
        var config = CliRunner.ConfigOption();
        var sets = CliRunner.SetOption();
        var cmd = new Command("background", "Record per-slot background access statistics (document frequency over |B| pretraining batches) for TF-IDF/KL ranking")
        {
            model, batches, batchSize, seqLen, seed, corpus, outFile, config, sets,
        };
        cmd.SetAction(pr =>
        {
            var overrides = new List<string>();
            CliRunner.Flag(pr, overrides, model, "model");
            CliRunner.Flag(pr, overrides, batches, "batches");
            CliRunner.Flag(pr, overrides, batchSize, "batch_size");
            CliRunner.Flag(pr, overrides, seqLen, "seq_len");
            CliRunner.Flag(pr, overrides, seed, "seed");
            CliRunner.Flag(pr, overrides, corpus, "corpus");
            overrides.AddRange(pr.GetValue(sets) ?? []);
            var cfg = BackgroundRun.LoadConfig(pr.GetValue(config), overrides);
            var s = BackgroundRun.Run(cfg, pr.GetValue(outFile), (done, total) => Console.Error.WriteLine($"background batch {done}/{total}"));
            foreach (string f in s.Leftovers) Console.Error.WriteLine($"removed {f}, left by an interrupted write");
            Console.WriteLine($"background: {s.Batches} batches; {s.SlotsRead:N0} of {s.Slots:N0} slots read at least once, {s.SlotsEverywhere:N0} read in every batch (idf 0) → {s.Path} (config: {s.ConfigPath})");
            return 0;
        });
        return cmd;
    }
}
