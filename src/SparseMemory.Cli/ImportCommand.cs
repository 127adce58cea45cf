using System.CommandLine;
using SparseMemory.Config;
using SparseMemory.Runs;

namespace SparseMemory.Cli;

/// <summary><c>smf import</c>.</summary>
public static class ImportCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "Hugging Face model folder: config.json, model.safetensors (or shards + model.safetensors.index.json), tokenizer.json [, tokenizer_config.json]", Required = true };
        var outDir = new Option<string>("--out") { Description = "Run folder to write (generate, eval, logits, finetune, serve, bench and retrofit accept it)", Required = true };
        var maxSeq = new Option<int>("--max-seq-len")
        {
            Description = $"Longest context kept (model.max_seq_len = the smaller of this and max_position_embeddings; default {ImportConfig.DefaultMaxSeqLen})",
            DefaultValueFactory = _ => ImportConfig.DefaultMaxSeqLen,
        };
        var cmd = new Command("import", $"Import a Hugging Face decoder checkpoint ({string.Join(", ", HfImport.Architectures)}) as a run folder, weights in float32")
        {
            from, outDir, maxSeq,
        };
        cmd.SetAction(pr =>
        {
            string dir = pr.GetValue(outDir)!;
            var s = HfImport.Run(pr.GetValue(from)!, dir, pr.GetValue(maxSeq), m => Console.Error.WriteLine(m));
            Console.WriteLine($"done: {s.Architecture}, {s.Parameters:N0} parameters from {s.Tensors} {s.SourceDtype} tensors, {s.Seconds:F1} s; run folder {dir}");
            return 0;
        });
        return cmd;
    }
}
