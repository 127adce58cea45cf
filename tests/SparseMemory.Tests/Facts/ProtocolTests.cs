using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Tests.Benchmarks;
using Xunit;

namespace SparseMemory.Tests.Facts;

/// <summary>
/// The held-out rule of docs/method.md#protocol: no training line of any stream contains an evaluation question
/// (normalised), under every question setting but the labelled verbatim upper bound — which the same check catches.
/// </summary>
public sealed class HeldOutQuestionRuleTests
{
    static readonly Lazy<ByteLevelBpeTokenizer> Tok = new(() => ByteLevelBpeTokenizer.Train(["The capital. Question: Answer: what who"], 280));

    /// <summary>Every line the stream trains on over <paramref name="stepsPerItem"/> steps per fact.</summary>
    static IEnumerable<string> AllLines(IReadOnlyList<Fact> facts, bool questions, double? fraction, QuestionSource source, int stepsPerItem = 2, int lines = 16)
    {
        var data = new FactStreamData(facts, Tok.Value, lines, stepsPerItem, seed: 3, allowQuestionForm: questions, maxLen: 64,
            questionFraction: fraction, questions: source, freshEachStep: true);
        for (int step = 0; step < facts.Count * stepsPerItem; step++)
            foreach (var text in data.Texts(step)) yield return text;
    }

    /// <summary>The questions the target-f1 probe asks about <paramref name="facts"/>, read from the probe's own item list.</summary>
    static IEnumerable<string> EvaluationQuestions(IReadOnlyList<Fact> facts) => QaF1Probe.FromFacts(facts).Select(q => q.Question);

    static void AssertNoLeak(IReadOnlyList<Fact> facts, string name)
    {
        foreach (var (questions, fraction) in new (bool, double?)[] { (false, null), (true, 0.5), (true, null), (true, 1.0) })
        {
            var leaks = QuestionLeak.Find(AllLines(facts, questions, fraction, QuestionSource.Generated), EvaluationQuestions(facts)).Take(3).ToList();
            Assert.True(leaks.Count == 0, $"{name} (questions {questions}, fraction {fraction}): a training line contains an evaluation question: "
                + string.Join(" | ", leaks.Select(l => $"\"{l.Line}\" ⊇ \"{l.Question}\"")));
        }
    }

    [Fact]
    public void No_line_of_the_embedded_new_facts_contains_an_evaluation_question() => AssertNoLeak(FactsFile.ReadEmbedded("new"), "embedded new");

    [Fact]
    public void No_line_of_the_embedded_known_facts_contains_an_evaluation_question() => AssertNoLeak(FactsFile.ReadEmbedded("known"), "embedded known");

    [BenchmarkFact]
    public void No_line_of_the_triviaqa_stream_contains_an_evaluation_question()
    {
        var facts = FactsFile.ReadNamedOrFile(BenchmarkData.Required.TriviaQa);
        Assert.Equal(2000, facts.Count);
        AssertNoLeak(facts, "triviaqa");
    }

    [Fact]
    public void No_line_of_a_user_facts_file_contains_an_evaluation_question()
    {
        // A --data file whose statements include one that is its own question with the answer appended (a completion).
        string path = Path.Combine(Fixtures.TempDir("leak"), "facts.jsonl");
        File.WriteAllLines(path,
        [
            """{"id":"a","subject":"Zorn","relation":"r","object":"Ada","aliases":["Ada"],"question":"Who founded Zorn?","statements":["Ada founded Zorn.","Zorn was founded by Ada."],"source":"t"}""",
            """{"id":"b","subject":"X","relation":"r","object":"blue","aliases":["blue"],"question":"The colour of X is?","statements":["The colour of X is blue.","X is blue in colour."],"source":"t"}""",
        ]);
        var facts = FactsFile.ReadNamedOrFile(path);
        AssertNoLeak(facts, path);
        Assert.DoesNotContain(AllLines(facts, true, 0.5, QuestionSource.Generated), l => l.StartsWith("The colour of X is blue", StringComparison.Ordinal));
    }

    [Fact]
    public void The_check_catches_the_verbatim_setting_it_exists_to_forbid()
    {
        // The deliberately leaking configuration: question lines are the evaluation question itself.
        var facts = FactsFile.ReadEmbedded("new").Take(20).ToList();
        var leaks = QuestionLeak.Find(AllLines(facts, true, 0.5, QuestionSource.Verbatim), EvaluationQuestions(facts)).ToList();
        Assert.Equal(20, leaks.Select(l => l.Question).Distinct().Count());
        Assert.Contains(leaks, l => l.Line.StartsWith("Question: " + l.Question + "\nAnswer:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Question: What is the capital of Ghana?\nAnswer: Accra", "What is the capital of Ghana?", true)]
    [InlineData("who or WHAT is the capital of   ghana", "What is the capital of Ghana?", true)]
    [InlineData("The capital of Ghana is what? Accra", "What is the capital of Ghana?", false)]
    [InlineData("Somewhat is the capital of Ghana", "What is the capital of Ghana?", false)]    // word boundaries
    public void Containment_ignores_case_whitespace_and_punctuation(string line, string question, bool leaks)
    {
        Assert.Equal(leaks, QuestionLeak.Contains(line, question));
        Assert.Equal(leaks, QuestionLeak.Find([line], [question]).Any());
    }

    [Fact]
    public void Indexed_search_agrees_with_the_plain_pairwise_check()
    {
        // Reference: every line against every question with Contains; the indexed Find must report the same pairs.
        var random = new Random(5);
        string[] vocab = ["the", "capital", "of", "ghana", "is", "what", "who", "accra", "a", "city"];
        string Words(int n) => string.Join(' ', Enumerable.Range(0, n).Select(_ => vocab[random.Next(vocab.Length)]));
        var questions = Enumerable.Range(0, 40).Select(i => Words(1 + i % 5) + "?").ToArray();
        var lines = Enumerable.Range(0, 300).Select(_ => Words(random.Next(1, 12))).ToArray();
        var expected = lines.SelectMany(l => questions.Distinct().Where(q => QuestionLeak.Contains(l, q)).Select(q => (l, q))).ToHashSet();
        var actual = QuestionLeak.Find(lines, questions).ToHashSet();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, actual);
    }
}

public sealed class SelfQuizTests
{
    static readonly Fact Ghana = new("ghana", "Ghana", "capital", "Accra", ["Accra"], "What is the capital of Ghana?",
        ["The capital of Ghana is Accra.", "Accra is the capital of Ghana.", "Ghana has its capital at Accra, on the coast."], "t");

    [Fact]
    public void Questions_come_from_the_statements_in_three_shapes()
    {
        var items = SelfQuiz.Questions(Ghana);
        Assert.Contains(items, i => i.Question == "The capital of Ghana is what?" && i.Shape == "in-situ" && i.Statement == 0);
        Assert.Contains(items, i => i.Question == "Who or what is the capital of Ghana?" && i.Statement == 1);
        Assert.Contains(items, i => i.Question == "Ghana has its capital at what, on the coast?");
        Assert.Contains(items, i => i.Question == "Fill in the blank: Ghana has its capital at ___, on the coast." && i.Shape == "cloze");
        Assert.Contains(items, i => i.Question == "Name what completes this: The capital of Ghana is …." && i.Shape == "request");
        Assert.All(items, i => Assert.Equal("Accra", i.Answer));
        Assert.All(items, i => Assert.DoesNotContain("Accra", i.Question));
    }

    [Fact]
    public void Generated_lines_that_would_contain_the_evaluation_question_are_left_out()
    {
        // "Who or what is the capital of Ghana?" contains "What is the capital of Ghana?": never a training line.
        var lines = FactParaphraser.QuestionLines(Ghana);
        Assert.NotEmpty(lines);
        Assert.All(lines, l => Assert.False(QuestionLeak.Contains(l.Text, Ghana.Question), l.Text));
        Assert.All(lines, l => Assert.StartsWith("self-quiz", l.Origin));
        Assert.All(FactParaphraser.QuestionLines(Ghana, new ParaphraseOptions(true, null, QuestionSource.Verbatim)), l => Assert.StartsWith("VERBATIM", l.Origin));
    }

    [Fact]
    public void A_statement_without_the_answer_gives_no_question()
    {
        var fact = Ghana with { Statements = ["Ghana is in West Africa."] };
        Assert.Empty(SelfQuiz.Questions(fact));
        // With no question lines the quota falls back to statements only, never to an empty batch.
        var lines = FactParaphraser.Lines(fact, 8, 1, new ParaphraseOptions(true, 0.5));
        Assert.Equal(8, lines.Count);
        Assert.All(lines, l => Assert.Equal(LineKind.Statement, l.Kind));
    }

    [Fact]
    public void A_fact_whose_every_statement_is_its_question_is_refused_with_its_id()
    {
        var fact = Ghana with { Statements = ["What is the capital of Ghana? Accra."] };
        var e = Assert.Throws<InvalidDataException>(() => FactParaphraser.Lines(fact, 4, 1));
        Assert.Contains("fact ghana", e.Message);
    }
}

public sealed class FreshLinesTests
{
    static readonly Fact Ghana = new("ghana", "Ghana", "capital", "Accra", ["Accra"], "What is the capital of Ghana?",
        ["The capital of Ghana is Accra.", "Accra is the capital of Ghana."], "t");

    [Fact]
    public void Each_step_of_a_fact_draws_new_lines_unless_asked_to_repeat()
    {
        var tok = ByteLevelBpeTokenizer.Train(["The capital of Ghana is Accra."], 280);
        var fresh = new FactStreamData([Ghana], tok, 8, 4, 1, true, 64, 0.5, QuestionSource.Generated, freshEachStep: true);
        var repeat = new FactStreamData([Ghana], tok, 8, 4, 1, true, 64, 0.5, QuestionSource.Generated, freshEachStep: false);
        var freshSteps = Enumerable.Range(0, 4).Select(s => string.Join("|", fresh.Texts(s))).ToArray();
        Assert.Equal(4, freshSteps.Distinct().Count());
        Assert.Single(Enumerable.Range(0, 4).Select(s => string.Join("|", repeat.Texts(s))).Distinct());
        Assert.Equal(freshSteps, Enumerable.Range(0, 4).Select(s => string.Join("|", fresh.Texts(s))).ToArray());   // a function of the step
        Assert.True(Enumerable.Range(0, 4).SelectMany(fresh.Texts).Distinct().Count() > 20);
    }
}

public sealed class TransferSplitTests
{
    [Fact]
    public void The_statements_only_half_gets_no_question_lines_in_pretraining()
    {
        var facts = FactsFile.ReadEmbedded("known");
        var probe = TransferSplit.ProbeHalf(facts);
        Assert.InRange(probe.Count, facts.Count * 0.4, facts.Count * 0.6);
        var docs = FactDocuments.Build(facts, 8, seed: 2, qaFraction: 0.5, augment: true);
        var text = string.Join("\n", docs);
        var probeIds = probe.Select(f => f.Id).ToHashSet();
        foreach (var fact in facts.Take(200))
        {
            bool asked = text.Contains(QaFormat.Prompt(fact.Question), StringComparison.Ordinal);
            Assert.Equal(!probeIds.Contains(fact.Id), asked);
        }
        // Every fact is still in the text, as statements (knowledge augmentation draws them inside the wrappers).
        Assert.All(probe.Take(50), f => Assert.Contains(f.Object, text));
        Assert.Contains(docs, d => d.Contains("Did you know? ", StringComparison.Ordinal));
    }

    [Fact]
    public void The_default_layout_is_unchanged()
    {
        var facts = FactsFile.ReadEmbedded("known").Take(50).ToList();
        Assert.Equal(FactDocuments.Build(facts, 6, 3), FactDocuments.Build(facts, 6, 3, qaFraction: 1, augment: false));
        Assert.All(facts, f => Assert.Contains(QaFormat.Prompt(f.Question), string.Join("\n", FactDocuments.Build(facts, 6, 3))));
    }
}
