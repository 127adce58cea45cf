using SparseMemory.DataBuild;
using SparseMemory.DataBuild.Facts;
using System.CommandLine;
using SparseMemory.Data;

namespace SparseMemory.Cli;

/// <summary>The <c>smf data</c> command group: corpus and fact-set preparation.</summary>
public static class DataCommand
{
    /// <summary>Builds <c>data</c> with its subcommands <c>build-corpus</c> and <c>build-facts</c>.</summary>
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

        return new Command("data", "Data preparation commands") { build, BuildFacts() };
    }

    static Command BuildFacts()
    {
        var raw = new Option<string>("--raw")
        {
            Description = "Raw package directory filled by scripts/get-data.sh",
            DefaultValueFactory = _ => "data/raw",
        };
        var output = new Option<string>("--out")
        {
            Description = "Output folder for known.jsonl.gz and new.jsonl.gz",
            DefaultValueFactory = _ => "data/facts",
        };
        var seed = new Option<int>("--seed")
        {
            Description = "Seed for the per-relation shuffles of the known/new split",
            DefaultValueFactory = _ => new FactSplitOptions().Seed,
        };
        var cmd = new Command("build-facts", "Build the known and new fact sets (country-json, kgeography, iso-codes, calendar, bsdgames, miscfiles) from data/raw")
        {
            raw, output, seed,
        };
        cmd.SetAction(pr =>
        {
            try
            {
                FactSetBuilder.Build(pr.GetValue(raw)!, pr.GetValue(output)!, new FactSplitOptions(Seed: pr.GetValue(seed)), Console.Out);
                return 0;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }
}
