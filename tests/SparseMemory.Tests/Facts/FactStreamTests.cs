using SparseMemory.Data.Benchmarks;
using SparseMemory.Data.Facts;
using SparseMemory.Tests.Benchmarks;
using Xunit;

namespace SparseMemory.Tests.Facts;

public sealed class FactStreamTests
{
    private static readonly TriviaQaItem[] Items =
    [
        new("What type of animal is a dik-dik?", "Antelope", ["Antelope", "Antelopes"], ""),
        new("Flanders is part of what country?", "Belgium", ["Belgium"], ""),
        new("Who wrote the Cliff Richard number one hit 'Living Doll'?", "LIONEL BART", ["Lionel Bart"], ""),
        new("What connects the answers 1-9", "Nicknames", [], ""),
    ];

    [Fact]
    public void Should_take_the_first_facts_without_a_seed()
    {
        var stream = FactStream.FromItems(Items, 2);
        Assert.Equal(["tqa-0001", "tqa-0002"], stream.Facts.Select(f => f.Id));
        Assert.Equal(["tqa-0003", "tqa-0004"], stream.HeldOut.Select(f => f.Id));
        Assert.Equal("A dik-dik is Antelope.", stream.Facts[0].Statement);
        Assert.Equal(["Antelope", "Antelopes"], stream.Facts[0].Aliases);
        Assert.Equal("Lionel Bart", stream.HeldOut[0].Object);
        Assert.Equal(["LIONEL BART", "Lionel Bart"], stream.HeldOut[0].Aliases);
    }

    [Fact]
    public void Should_select_deterministically_with_a_seed()
    {
        var a = FactStream.FromItems(Items, 2, seed: 5);
        var b = FactStream.FromItems(Items, 2, seed: 5);
        Assert.Equal(a.Facts.Select(f => f.Id), b.Facts.Select(f => f.Id));
        Assert.Equal(4, a.Facts.Concat(a.HeldOut).Select(f => f.Id).Distinct().Count());
    }

    [Fact]
    public void Should_report_rule_counts_summing_to_the_stream_length()
    {
        var stream = FactStream.FromItems(Items, 4);
        var counts = stream.StreamRuleCounts();
        Assert.Equal(4, counts.Values.Sum());
        Assert.Equal(1, counts[StatementRule.Fallback]);
    }

    [Fact]
    public void Should_pass_the_question_form_option_to_paraphrases()
    {
        var fact = FactStream.FromItems(Items, 1).Facts[0];
        var allowed = FactStream.FromItems(Items, 1, options: new ParaphraseOptions(AllowQuestionForm: true));
        Assert.Contains(allowed.Paraphrases(fact, 200, seed: 1), p => p.StartsWith("Q: ", StringComparison.Ordinal));
        Assert.DoesNotContain(FactStream.FromItems(Items, 1).Paraphrases(fact, 200, seed: 1), p => p.StartsWith("Q: ", StringComparison.Ordinal));
    }

    [BenchmarkFact]
    public void Should_load_the_real_triviaqa_file_into_a_stream_and_held_out_set()
    {
        var stream = FactStream.Load(BenchmarkData.Required.TriviaQa, 1000, seed: 1);
        Assert.Equal(1000, stream.Facts.Count);
        Assert.Equal(1000, stream.HeldOut.Count);
        Assert.Equal(2000, stream.Rules.Count);
        Assert.Equal(1000, stream.StreamRuleCounts().Values.Sum());
        var fallbackShare = stream.Rules.Values.Count(r => r == StatementRule.Fallback) / 2000.0;
        Assert.True(fallbackShare < 0.1, $"fallback share {fallbackShare:P1}");
    }
}

public sealed class FactStreamDataTests
{
    [Fact]
    public void Question_form_option_reaches_the_paraphrases_of_the_stream()
    {
        var fact = new Fact("f1", "Ada", "home", "Zorn", ["Zorn"], "Where does Ada live?", ["Ada lives in Zorn."], "test");
        var tok = SparseMemory.Data.ByteLevelBpeTokenizer.Train(["Ada lives in Zorn. Where does Ada live? Question: Answer:"], 300);
        // The pool has 1 statement × prefixes × suffixes, plus the question forms when allowed; ask for more than the
        // statement pool so the question forms must appear when the option is on, and never when it is off.
        int statementsOnly = FactParaphraser.Pool(fact).Count;
        var off = new SparseMemory.Data.FactStreamData([fact], tok, statementsOnly + 4, 1, 1, allowQuestionForm: false, 64);
        var on = new SparseMemory.Data.FactStreamData([fact], tok, statementsOnly + 4, 1, 1, allowQuestionForm: true, 64, questions: QuestionSource.Verbatim);
        Assert.DoesNotContain(off.Texts(0), t => t.Contains("Where does Ada live?", StringComparison.Ordinal));
        Assert.Contains(on.Texts(0), t => t.Contains("Where does Ada live?", StringComparison.Ordinal));
    }
}

public sealed class TriviaQaAsPublishedTests
{
    [Fact]
    public void Facts_reader_accepts_the_triviaqa_file_format_and_makes_statements()
    {
        string dir = Fixtures.TempDir("tqa");
        string path = Path.Combine(dir, "qa.jsonl");
        File.WriteAllLines(path,
        [
            """{"context": "Question: Flanders is part of what country?\nAnswer:", "answer": "Belgium", "aliases": ["Belgium", "Kingdom of Belgium"]}""",
            """{"context": "Question: What type of animal is a dik-dik?\nAnswer:", "answer": "Antelope", "aliases": ["Antelope"]}""",
        ]);
        Assert.True(FactsFile.IsTriviaQaFile(path));
        var facts = FactsFile.ReadNamedOrFile(path);
        Assert.Equal(2, facts.Count);
        Assert.Equal("Flanders is part of what country?", facts[0].Question);
        Assert.Contains("Kingdom of Belgium", facts[0].Aliases);
        Assert.All(facts, f => Assert.NotEmpty(f.Statements));
        Assert.Contains("Belgium", facts[0].Statements[0]);
        // A facts file is not mistaken for one.
        string factsPath = Path.Combine(dir, "facts.jsonl");
        SparseMemory.Checkpoints.DataFiles.WriteFacts(factsPath, facts);
        Assert.False(FactsFile.IsTriviaQaFile(factsPath));
        Assert.Equal(facts.Select(f => f.Id), FactsFile.ReadNamedOrFile(factsPath).Select(f => f.Id));
    }

    [Fact]
    public void A_malformed_triviaqa_line_names_the_file_and_line()
    {
        string path = Path.Combine(Fixtures.TempDir("tqa-bad"), "qa.jsonl");
        File.WriteAllLines(path, ["""{"context": "Question: Q?\nAnswer:", "answer": "A", "aliases": []}""", """{"context": "no prefix", "answer": "A", "aliases": []}"""]);
        var e = Assert.Throws<InvalidDataException>(() => FactsFile.ReadNamedOrFile(path));
        Assert.Contains("qa.jsonl", e.Message);
        Assert.Contains("2", e.Message);
    }
}
