using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Tests.Benchmarks;
using Xunit;

namespace SparseMemory.Tests.Facts;

/// <summary>Known-fact pretraining documents and their place in the corpus.</summary>
public sealed class FactDocumentsTests
{
    private static IReadOnlyList<Fact> SomeFacts(int n) => Enumerable.Range(0, n).Select(i => new Fact(
        $"country_capital/c{i}", $"Country{i}", "country_capital", $"City{i}", [$"City{i}"], $"What is the capital of Country{i}?",
        [$"The capital of Country{i} is City{i}.", $"City{i} is the capital of Country{i}.", $"Country{i}'s capital city is City{i}.",
         $"The capital city of Country{i} is City{i}."], "t")).ToArray();

    [Fact]
    public void Should_include_every_facts_qa_example_and_statements()
    {
        var facts = SomeFacts(50);
        var docs = FactDocuments.Build(facts, repeats: 4, seed: 3);
        string all = string.Join("\n", docs) + "\n";
        foreach (var f in facts)
        {
            Assert.Contains(QaFormat.Example(f.Question, f.Object), all);
            Assert.Contains(f.Statements, s => all.Contains(s, StringComparison.Ordinal));
        }
        var lines = docs.Sum(d => d.Split('\n').Count(l => !l.StartsWith("Answer:", StringComparison.Ordinal)));
        Assert.Equal(50 * 4, lines);
        Assert.All(docs.SkipLast(1), d => Assert.InRange(d.Split('\n').Count(l => !l.StartsWith("Answer:", StringComparison.Ordinal)), FactDocuments.MinLines, FactDocuments.MaxLines));
        Assert.Equal(docs, FactDocuments.Build(facts, 4, 3));
        Assert.NotEqual(docs, FactDocuments.Build(facts, 4, 4));
        Assert.Contains(QaFormat.Example(facts[7].Question, facts[7].Object), string.Join("\n", FactDocuments.Build(facts, 1, 0)) + "\n");
    }

    [Fact]
    public void CorpusLoader_with_known_facts_should_keep_held_out_documents_fact_free()
    {
        using var tmp = new TempFolder();
        var corpus = tmp.Write("corpus.txt", Enumerable.Range(0, 200).SelectMany(i => new[] { $"Prose document number {i} about nothing.", "" }));
        var factsPath = Path.Combine(tmp.Path, "facts.jsonl");
        DataFiles.WriteFacts(factsPath, SomeFacts(100));
        var data = new DataConfig { Corpus = [corpus], KnownFacts = factsPath, FactRepeats = 4, HeldoutFraction = 0.1 };
        var docs = CorpusLoader.Load(data, seed: 9);
        var factDocs = FactDocuments.Build(FactsFile.Read(factsPath), 4, 9);
        Assert.Equal(200 + factDocs.Count, docs.Count);
        int held = CorpusLoader.HeldoutCount(docs, data);
        Assert.Equal(20, held); // 10% of the 200 text documents, not of all documents
        Assert.All(docs.TakeLast(held), d => Assert.StartsWith("Prose document", d));
        Assert.Equal(Enumerable.Range(200 - held, held).Select(i => $"Prose document number {i} about nothing."), docs.TakeLast(held));
        var train = docs.Take(docs.Count - held).ToList();
        Assert.Equal(factDocs, train.Where(d => !d.StartsWith("Prose", StringComparison.Ordinal)));
        Assert.Contains(train.Take(train.Count / 2), d => d.StartsWith("Question:", StringComparison.Ordinal) || d.Contains("\nQuestion:", StringComparison.Ordinal) || d.StartsWith("The", StringComparison.Ordinal) || d.StartsWith("City", StringComparison.Ordinal) || d.StartsWith("Country", StringComparison.Ordinal));
        Assert.Equal(docs, CorpusLoader.Load(data, seed: 9));
        Assert.Equal(200, CorpusLoader.Load(data with { KnownFacts = null }).Count);
    }

    [Fact]
    public void DataConfig_should_validate_fact_settings()
    {
        var errors = new List<string>();
        new DataConfig { KnownFacts = " ", FactRepeats = 0 }.Validate(errors, "data");
        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.Contains("data.known_facts", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("data.fact_repeats", StringComparison.Ordinal));
    }
}
