using System.CommandLine;
using SparseMemory.Config;
using SparseMemory.Runs;

namespace SparseMemory.Cli;

/// <summary><c>smf import</c>.</summary>
public static class ImportCommand
{
    /// <summary>Keys of the import config that the job fills in from the source folder.</summary>
    static readonly string[] FromSource = ["import.from", "import.architecture", "import.source_dtype", "import.config_sha256"];

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "Hugging Face model folder: config.json, model.safetensors (or shards + model.safetensors.index.json), tokenizer.json [, tokenizer_config.json]", Required = true };
        var outDir = new Option<string>("--out") { Description = "Run folder to write (generate, eval, logits, finetune, serve, bench and retrofit accept it)", Required = true };
        var maxSeq = new Option<int?>("--max-seq-len")
        {
            Description = $"Longest context kept (import.max_seq_len; model.max_seq_len = the smaller of this and max_position_embeddings; default {ImportConfig.DefaultMaxSeqLen})",
        };
        var dtype = new Option<string?>("--dtype")
        {
            Description = $"Dtype the weights are written and computed in (import.dtype): {string.Join(", ", ImportConfig.Dtypes)} (= as the checkpoint stores them); default {ModelConfig.Float32}, the only one finetuning trains",
        };
        var config = CliRunner.ConfigOption();
        var sets = CliRunner.SetOption();
        var cmd = new Command("import", $"Import a Hugging Face decoder checkpoint ({string.Join(", ", HfImport.Architectures)}) as a run folder, weights in float32 or kept in bfloat16/float16 (--dtype)")
        {
            from, outDir, maxSeq, dtype, config, sets,
        };
        cmd.SetAction(pr =>
        {
            var overrides = new List<string>();
            if (pr.GetValue(maxSeq) is int m) overrides.Add($"import.max_seq_len={m}");
            if (pr.GetValue(dtype) is string d) overrides.Add(ConfigLoader.Set("import.dtype", d));
            var userSets = pr.GetValue(sets) ?? [];
            foreach (string set in userSets)
            {
                string key = set.Split('=')[0].Trim();
                if (key == "model" || key.StartsWith("model.", StringComparison.Ordinal))
                    throw new ArgumentException($"--set {key}: the model section is read from the source's config.json (its dtype from import.dtype, --dtype); it cannot be set");
                if (key == "import" || FromSource.Contains(key))
                    throw new ArgumentException($"--set {key}: filled in from the source folder (--from); it cannot be set");
            }
            var requested = ConfigLoader.Load<ImportRunConfig>(null, pr.GetValue(config), overrides.Concat(userSets), Validate);
            string dir = pr.GetValue(outDir)!;
            var s = HfImport.Run(pr.GetValue(from)!, dir, requested.Import, msg => Console.Error.WriteLine(msg));
            Console.WriteLine($"done: {s.Architecture}, {s.Parameters:N0} parameters from {s.Tensors} {s.SourceDtype} tensors, written as {s.Dtype}, {s.Seconds:F1} s; run folder {dir}");
            return 0;
        });
        return cmd;
    }

    /// <summary>The options' problems; a config file may not set what the source decides (the model section, the source's identity).</summary>
    static IReadOnlyList<string> Validate(ImportRunConfig c)
    {
        var e = c.Import.Validate().ToList();
        if (ConfigLoader.ToJson(c.Model) != ConfigLoader.ToJson(new ModelConfig()))
            e.Add("model: read from the source's config.json (its dtype from import.dtype, --dtype); leave it unset");
        if (c.Import.From != "" || c.Import.Architecture != "" || c.Import.SourceDtype != "" || c.Import.ConfigSha256 != "")
            e.Add($"{string.Join(", ", FromSource)}: filled in from the source folder (--from); leave them unset");
        return e;
    }
}
