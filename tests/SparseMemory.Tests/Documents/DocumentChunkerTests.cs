using SparseMemory.Data;
using SparseMemory.Data.Documents;
using Xunit;

namespace SparseMemory.Tests.Documents;

public sealed class DocumentChunkerTests
{
    internal static readonly Lazy<ByteLevelBpeTokenizer> Tok = new(() => ByteLevelBpeTokenizer.Train(
        ["The capital of Ghana is Accra. In 1957, Ghana became independent. Kwame Nkrumah led it. Question: Answer: what who"], 300));

    static Document Doc(string text, string id = "d") => new(id, null, text, id);

    const string Text = "Ghana is in West Africa. The capital of Ghana is Accra. In 1957, Ghana became independent.\n\n" +
                        "Kwame Nkrumah led the country. He was its first president.\n\nThe cedi is the currency of Ghana.";

    [Fact]
    public void Whole_paragraphs_are_packed_while_they_fit()
    {
        var tok = Tok.Value;
        int all = tok.Encode(Text.Replace("\n\n", "\n\n")).Length;
        var one = DocumentChunker.Split(Doc(Text), tok, all + 10);
        var chunk = Assert.Single(one);
        Assert.Equal(3, chunk.Paragraphs.Count);
        Assert.Equal(TextUnits.Paragraphs(Text), chunk.Paragraphs.Select(p => string.Join(' ', p)));
    }

    [Theory]
    [InlineData(12)]
    [InlineData(20)]
    [InlineData(30)]
    [InlineData(45)]
    public void Every_chunk_is_within_the_budget_and_the_chunks_give_back_the_text(int budget)
    {
        var tok = Tok.Value;
        var chunks = DocumentChunker.Split(Doc(Text), tok, budget);
        foreach (var c in chunks)
        {
            Assert.True(tok.Encode(c.Text).Length <= budget, $"{c.Id}: {tok.Encode(c.Text).Length} > {budget}: {c.Text}");
            Assert.Equal(tok.Encode(c.Text).Length, c.Tokens);
        }
        // Nothing lost or reordered: the words of the chunks, in order, are the document's words.
        Assert.Equal(TextUnits.Words(Text), chunks.SelectMany(c => TextUnits.Words(c.Text)));
        Assert.Equal(Enumerable.Range(0, chunks.Count), chunks.Select(c => c.Index));
    }

    [Fact]
    public void A_paragraph_longer_than_the_budget_is_split_at_its_sentences()
    {
        var tok = Tok.Value;
        var paragraph = "Ghana is in West Africa. The capital of Ghana is Accra. In 1957, Ghana became independent.";
        var sentences = TextUnits.Sentences(paragraph);
        Assert.Equal(3, sentences.Count);
        int budget = sentences.Max(s => tok.Encode(s).Length);
        Assert.True(tok.Encode(paragraph).Length > budget);
        var chunks = DocumentChunker.Split(Doc(paragraph), tok, budget);
        Assert.True(chunks.Count > 1);
        // Each chunk is made of whole sentences of the paragraph.
        foreach (var c in chunks)
            Assert.All(c.Sentences, s => Assert.Contains(s, sentences));
        Assert.Equal(sentences, chunks.SelectMany(c => c.Sentences));
    }

    [Fact]
    public void Paragraph_boundaries_are_kept_inside_a_chunk_and_chunks_never_cross_documents()
    {
        var tok = Tok.Value;
        var docs = new[] { Doc("Ghana is in West Africa.", "a"), Doc("The capital of Ghana is Accra.\n\nThe cedi is the currency.", "b") };
        var chunks = DocumentChunker.Split(docs, tok, 1000);
        Assert.Equal(["a", "b"], chunks.Select(c => c.DocumentId));
        Assert.Equal("The capital of Ghana is Accra.\n\nThe cedi is the currency.", chunks[1].Text);
    }

    [Fact]
    public void A_sentence_longer_than_the_budget_is_split_at_words_and_a_word_at_tokens()
    {
        var tok = Tok.Value;
        var sentence = "Kwame Nkrumah led the country of Ghana to independence in 1957 and became its first president.";
        int budget = sentence.Split(" ").Max(w => tok.Encode(w).Length) + 1;     // every word fits, the sentence does not
        var chunks = DocumentChunker.Split(Doc(sentence), tok, budget);
        Assert.True(chunks.Count > 1);
        Assert.All(chunks, c => Assert.True(c.Tokens <= budget, c.Text));
        Assert.Equal(TextUnits.Words(sentence), chunks.SelectMany(c => TextUnits.Words(c.Text)));
        var word = new string('x', 40);
        var parts = DocumentChunker.Split(Doc(word), tok, 3);
        Assert.All(parts, c => Assert.True(c.Tokens <= 3, c.Text));
        Assert.Equal(word, string.Concat(parts.Select(c => c.Text)).Replace(" ", ""));
    }

    [Theory]
    [InlineData("Dr. Smith went to St. Ives. He stayed.", new[] { "Dr. Smith went to St. Ives.", "He stayed." })]
    [InlineData("J. R. R. Tolkien wrote it. It sold well!", new[] { "J. R. R. Tolkien wrote it.", "It sold well!" })]
    [InlineData("It cost 3.5 dollars. \"Quite cheap,\" he said.", new[] { "It cost 3.5 dollars.", "\"Quite cheap,\" he said." })]
    [InlineData("Is it? yes it is.", new[] { "Is it? yes it is." })]
    [InlineData("Minneapolis-St. Paul has MSP. P.W. Botha came.", new[] { "Minneapolis-St. Paul has MSP.", "P.W. Botha came." })]
    [InlineData("Potassium has the symbol K. Much is known.", new[] { "Potassium has the symbol K.", "Much is known." })]
    public void Sentences_end_at_terminal_punctuation_before_a_capital(string paragraph, string[] expected) =>
        Assert.Equal(expected, TextUnits.Sentences(paragraph));
}
