using SparseMemory.Config;

namespace SparseMemory.Tests;

/// <summary>Tiny configs and a generated corpus for tests that train (seconds, not minutes).</summary>
internal static class Fixtures
{
    public static string TempDir(string name)
    {
        string d = Path.Combine(Path.GetTempPath(), "smf-tests", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>A small plain-text corpus generated in code: simple sentences about numbered people and places.</summary>
    public static string WriteCorpus(string dir, int documents = 120)
    {
        var rng = new Random(42);
        string[] names = ["Ada", "Bela", "Cyril", "Dora", "Emil", "Fenna", "Gus", "Hale"];
        string[] places = ["Arden", "Brill", "Cove", "Dunmore", "Eastby", "Fallow"];
        string[] verbs = ["lives in", "works in", "was born in", "travels to"];
        var docs = new List<string>();
        for (int i = 0; i < documents; i++)
        {
            var sents = Enumerable.Range(0, 6).Select(_ =>
                $"{names[rng.Next(names.Length)]} {verbs[rng.Next(verbs.Length)]} {places[rng.Next(places.Length)]} since {1900 + rng.Next(100)}.");
            docs.Add(string.Join(" ", sents));
        }
        string path = Path.Combine(dir, "corpus.txt");
        File.WriteAllText(path, string.Join("\n\n", docs));
        return path;
    }

    public static PretrainConfig TinyConfig(string corpus, int steps = 12) => new()
    {
        Name = "test",
        Seed = 3,
        Model = new ModelConfig
        {
            VocabSize = 300, Dim = 32, Layers = 2, Heads = 2, FfnHidden = 64, MaxSeqLen = 32,
            Memory = new MemoryConfig { Layers = [1], NumKeys = 8, Heads = 2, TopK = 4, KeyDim = 16 },
        },
        Data = new DataConfig { Corpus = [corpus], HeldoutFraction = 0.1 },
        Train = new TrainConfig
        {
            Steps = steps, BatchSize = 4, SeqLen = 16, Lr = 3e-3, WarmupSteps = 2, EvalEvery = 4, EvalBatches = 2,
            CheckpointEvery = 4, LogEvery = 1,
        },
    };
}
