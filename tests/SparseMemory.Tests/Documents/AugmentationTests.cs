using SparseMemory.Data.Documents;
using SparseMemory.Data.Documents.Augmentations;
using SparseMemory.Data.Facts;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Documents;

public sealed class AugmentationTests(ITestOutputHelper output)
{
    static readonly Document Doc = new("ghana", "Ghana",
        "Ghana is a country in West Africa. The capital of Ghana is Accra. In 1957, Ghana became independent from Britain.\n\n" +
        "Kwame Nkrumah led the country at independence. He was its first president. The national dish of Ghana is fufu.", "test");

    static Chunk TheChunk() => Assert.Single(DocumentChunker.Split(Doc, DocumentChunkerTests.Tok.Value, 1000));

    public static TheoryData<string> Strategies => new(Augmentations.Registry.Names);

    [Theory]
    [MemberData(nameof(Strategies))]
    public void Every_strategy_makes_lines_labelled_with_its_name_from_the_chunk_words_and_its_templates(string name)
    {
        var spec = Augmentations.Registry.Get(name, "test");
        var chunk = TheChunk();
        var lines = spec.Strategy.Lines(chunk);
        Assert.NotEmpty(lines);
        var allowed = TextUnits.WordSet(chunk.Text);
        allowed.UnionWith(TextUnits.WordSet(spec.Strategy.TemplateText));
        foreach (var line in lines)
        {
            Assert.Equal(spec.Name, line.Strategy);
            var foreign = TextUnits.WordSet(line.Text).Except(allowed).ToList();
            Assert.True(foreign.Count == 0, $"{name}: \"{line.Text}\" has words from neither the chunk nor the templates: {string.Join(", ", foreign)}");
        }
        foreach (var line in lines.Take(6)) output.WriteLine($"[{line.Strategy}] {line.Text.Replace("\n", "\\n")}   ({line.Origin})");
    }

    [Fact]
    public void The_batch_is_deterministic_per_seed_and_differs_between_seeds()
    {
        var builder = new AugmentedBatch(Augmentations.Registry.All);
        var chunk = TheChunk();
        var a = builder.Lines(chunk, 16, 7);
        Assert.Equal(a, builder.Lines(chunk, 16, 7));
        Assert.NotEqual(a.Select(l => l.Text), builder.Lines(chunk, 16, 8).Select(l => l.Text));
        // Every strategy gets its share of the batch (16 lines over 6 strategies: 2 or 3 each).
        var counts = a.GroupBy(l => l.Strategy!).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(Augmentations.Registry.Names.Order(), counts.Keys.Order());
        Assert.All(counts.Values, n => Assert.InRange(n, 16 / 6, 16 / 6 + 1));
    }

    [Fact]
    public void No_line_contains_a_held_out_question()
    {
        var chunk = TheChunk();
        string question = "What is the capital of Ghana?";
        // The rules do make the evaluation question from "The capital of Ghana is Accra." ("What is the capital of Ghana?")…
        var open = new AugmentedBatch(Augmentations.Registry.All).Pools(chunk).SelectMany(p => p).Select(l => l.Text).ToList();
        Assert.Contains(open, l => QuestionLeak.Contains(l, question));
        // …and the builder given the held-out questions never emits a line that contains one.
        var heldOut = new[] { question, "In what year did Ghana become independent?" };
        var guarded = new AugmentedBatch(Augmentations.Registry.All, heldOut);
        var lines = guarded.Pools(chunk).SelectMany(p => p).Select(l => l.Text)
            .Concat(Enumerable.Range(0, 20).SelectMany(s => guarded.Lines(chunk, 16, s)).Select(l => l.Text)).ToList();
        Assert.Empty(QuestionLeak.Find(lines, heldOut));
    }

    [Fact]
    public void Reordering_keeps_a_sentence_that_opens_with_a_pronoun_after_the_one_before_it()
    {
        var lines = SentenceReorder.Spec.Strategy.Lines(TheChunk());
        Assert.NotEmpty(lines);
        foreach (var line in lines)
            Assert.Contains("Kwame Nkrumah led the country at independence. He was its first president.", line.Text);
    }

    [Theory]
    [InlineData("In 1957, Ghana became independent.", "Ghana became independent in 1957.")]
    [InlineData("During the war, the city was bombed.", "The city was bombed during the war.")]
    public void A_fronted_phrase_moves_to_the_end(string sentence, string expected) =>
        Assert.Equal(expected, SentenceParaphrase.MoveFrontedPhrase(sentence));

    [Theory]
    [InlineData("The capital of Ghana is Accra.", "Accra is the capital of Ghana.")]
    [InlineData("Ghana is in Africa.", null)]
    public void An_identity_statement_is_inverted(string sentence, string? expected) =>
        Assert.Equal(expected, SentenceParaphrase.InvertCopula(sentence));

    [Fact]
    public void Spans_are_names_numbers_and_a_final_complement()
    {
        Assert.Equal(["1957", "Ghana", "Britain"], SentenceParts.Spans("In 1957, Ghana became independent from Britain."));
        Assert.Equal(["Ghana", "fufu"], SentenceParts.Spans("The national dish of Ghana is fufu."));
        Assert.Equal(("The capital of Ghana", "is Accra"), SentenceParts.Subject("The capital of Ghana is Accra."));
        // A capitalised opener alone is a name only when the chunk also capitalises it inside a sentence.
        var sentences = new[] { "Records about Ada Lovelace are kept.", "Ghana is in Africa.", "Accra is in Ghana." };
        var names = SentenceParts.Names(sentences);
        Assert.Equal(["Ada Lovelace"], SentenceParts.Spans(sentences[0], names));
        Assert.Equal(["Ghana", "Africa"], SentenceParts.Spans(sentences[1], names));
        Assert.Equal(["Accra", "Ghana"], SentenceParts.Spans(sentences[2], names));        // a verb follows the opener
    }

    [Fact]
    public void Unknown_or_repeated_strategy_names_are_reported_with_the_choices()
    {
        var e = Augmentations.Problems(["chunk", "paraphrases", "Chunk"]);
        Assert.Contains(e, m => m.Contains("\"paraphrases\"") && m.Contains("self_quiz"));
        Assert.Contains(e, m => m.Contains("twice"));
        Assert.Empty(Augmentations.Problems(Augmentations.Registry.Names));
    }
}
