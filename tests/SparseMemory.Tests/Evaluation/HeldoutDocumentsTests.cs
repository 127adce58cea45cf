using SparseMemory.Runs;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data.Facts;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Finetuning;
using SparseMemory.Training;
using Xunit;

namespace SparseMemory.Tests.Evaluation;

public sealed class HeldoutDocumentsTests
{
    [Fact]
    public void Heldout_nll_scores_prose_only_also_for_finetuned_checkpoints()
    {
        string root = Fixtures.TempDir("heldout");
        string facts = Path.Combine(root, "known.jsonl");
        DataFiles.WriteFacts(facts, Enumerable.Range(0, 40).Select(i => new Fact($"k{i}", $"Town{i}", "mayor", $"Mayor{i}", [$"Mayor{i}"],
            $"Who is the mayor of Town{i}?", [$"The mayor of Town{i} is Mayor{i}."], "test")));
        var cfg = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 2) with
        {
            Data = new DataConfig { Corpus = [Path.Combine(root, "corpus.txt")], HeldoutFraction = 0.1, KnownFacts = facts, FactRepeats = 4 },
        };
        string baseDir = Path.Combine(root, "base");
        Pretraining.Run(cfg, baseDir, NullObserver.Instance);
        var docs = NllProbe.HeldoutDocuments(Checkpoint.Load(baseDir), new ProbeOptions());
        Assert.Equal(12, docs.Count);                                       // 10% of the 120 prose documents
        Assert.DoesNotContain(docs, d => d.Contains("Question:") || d.Contains("mayor"));

        // A finetuned checkpoint's data section describes its fact stream; held-out text follows the base model.
        string ft = Path.Combine(root, "ft");
        FinetuneRun.Run(ConfigLoader.Load<FinetuneConfig>(sets: [$"base_model={baseDir}", "method=full", "lr=1e-4", "steps=1",
            $"data.facts={facts}", "probes=[]"]), ft, NullObserver.Instance);
        Assert.Equal(docs, NllProbe.HeldoutDocuments(Checkpoint.Load(ft), new ProbeOptions()));
    }
}
