using System.CommandLine;
using SparseMemory.Data;

namespace SparseMemory.Cli;

/// <summary>The <c>smf data</c> command group: corpus preparation.</summary>
public static class DataCommand
{
    /// <summary>Builds <c>data</c> with its subcommand <c>build-corpus</c>.</summary>
    public static Command Create()
    {
        var raw = new Option<string>("--raw")
        {
            Description = "Raw package directory filled by scripts/get-data.sh",
            DefaultValueFactory = _ => "data/raw",
        };
        var output = new Option<string>("--out")
        {
            Description = "Output gzip'd JSONL corpus",
            DefaultValueFactory = _ => "data/corpus/default.jsonl.gz",
        };
        var seed = new Option<int>("--seed")
        {
            Description = "Seed for the deterministic KJV sampling and document shuffles",
            DefaultValueFactory = _ => 1234,
        };

        var build = new Command("build-corpus", "Build the default pretraining corpus (Gutenberg, Brown, SOTU, WordNet) from data/raw")
        {
            raw, output, seed,
        };
        build.SetAction(pr =>
        {
            try
            {
                DefaultCorpusBuilder.Build(pr.GetValue(raw)!, pr.GetValue(output)!, Console.Out, pr.GetValue(seed));
                return 0;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });

        return new Command("data", "Data preparation commands") { build };
    }
}
