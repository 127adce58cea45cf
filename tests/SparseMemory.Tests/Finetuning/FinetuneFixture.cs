using SparseMemory.Checkpoints;
using SparseMemory.Runs;
using SparseMemory.Data.Facts;
using SparseMemory.Finetuning;
using SparseMemory.Training;

namespace SparseMemory.Tests.Finetuning;

/// <summary>One tiny pretrained checkpoint with background statistics and a small facts file, shared by a test class.</summary>
public sealed class FinetuneFixture
{
    public string Root { get; } = Fixtures.TempDir("ft");
    public string BaseDir { get; }
    public string FactsPath { get; }

    public FinetuneFixture()
    {
        BaseDir = Path.Combine(Root, "base");
        Pretraining.Run(Fixtures.TinyConfig(Fixtures.WriteCorpus(Root), steps: 10), BaseDir, NullObserver.Instance);
        BackgroundStatsBuilder.Build(BaseDir, 20, 4, 16, 1).Save(Path.Combine(BaseDir, BackgroundStatsBuilder.FileName));
        FactsPath = Path.Combine(Root, "facts.jsonl");
        string[] people = ["Ada", "Bela", "Cyril", "Dora", "Emil", "Fenna"];
        string[] towns = ["Zorn", "Yelm", "Xant", "Wick", "Vale", "Umber"];
        DataFiles.WriteFacts(FactsPath, people.Select((p, i) => new Fact($"f{i}", p, "home", towns[i], [towns[i]],
            $"Where does {p} live?", [$"{p} lives in {towns[i]}.", $"The home of {p} is {towns[i]}.", $"{p} has a house in {towns[i]}."], "test")));
    }
}
