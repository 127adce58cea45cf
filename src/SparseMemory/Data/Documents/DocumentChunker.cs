namespace SparseMemory.Data.Documents;

/// <summary>One chunk of a document: what one step of the document stream teaches (docs/documents.md#chunking).</summary>
/// <param name="DocumentId">The document it comes from.</param>
/// <param name="Index">Its position within the document (0-based).</param>
/// <param name="Paragraphs">Its sentences, grouped by paragraph.</param>
/// <param name="Tokens">Tokens of <see cref="Text"/> as the tokenizer encodes it.</param>
public sealed record Chunk(string DocumentId, int Index, IReadOnlyList<IReadOnlyList<string>> Paragraphs, int Tokens)
{
    /// <summary>The chunk as text: sentences joined with a space, paragraphs with a blank line.</summary>
    public string Text { get; } = TextUnits.Join(Paragraphs);

    /// <summary>Every sentence, in order.</summary>
    public IReadOnlyList<string> Sentences => Paragraphs.SelectMany(p => p).ToList();

    /// <summary>A display id, <c>DOCUMENT#INDEX</c>.</summary>
    public string Id => $"{DocumentId}#{Index}";
}

/// <summary>
/// Splits documents into chunks of at most a token budget: whole paragraphs while they fit, a paragraph that does not
/// fit at its sentence boundaries, a sentence that does not fit at word boundaries, and a word that does not fit at token
/// boundaries (the last resort). Chunks never cross documents. Budgets are measured with the model's tokenizer on the
/// chunk's text.
/// </summary>
public static class DocumentChunker
{
    /// <summary>The chunks of every document, in document order.</summary>
    public static IReadOnlyList<Chunk> Split(IEnumerable<Document> documents, ITokenizer tokenizer, int chunkTokens) =>
        documents.SelectMany(d => Split(d, tokenizer, chunkTokens)).ToList();

    /// <summary>The chunks of one document, in order.</summary>
    public static IReadOnlyList<Chunk> Split(Document document, ITokenizer tokenizer, int chunkTokens)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkTokens, 1);
        int Count(string text) => tokenizer.Encode(text).Length;
        var chunks = new List<Chunk>();
        var current = new List<List<string>>();
        int currentParagraph = -1, currentTokens = 0;

        void Flush()
        {
            if (current.Count == 0) return;
            chunks.Add(new Chunk(document.Id, chunks.Count, current.Select(p => (IReadOnlyList<string>)p).ToList(), currentTokens));
            current = [];
            currentParagraph = -1;
            currentTokens = 0;
        }

        var paragraphs = TextUnits.Paragraphs(document.Text);
        for (int p = 0; p < paragraphs.Count; p++)
        {
            // A paragraph that fits is one piece; otherwise its sentences are, split further when one is too long.
            var sentences = TextUnits.Sentences(paragraphs[p]);
            var pieces = Count(paragraphs[p]) <= chunkTokens
                ? [sentences.ToList()]
                : sentences.SelectMany(s => Fit(s, tokenizer, chunkTokens)).Select(s => new List<string> { s }).ToList();
            foreach (var piece in pieces)
            {
                var candidate = current.Select(x => x.ToList()).ToList();
                if (currentParagraph == p) candidate[^1].AddRange(piece);
                else candidate.Add([.. piece]);
                int tokens = Count(TextUnits.Join(candidate));
                if (tokens <= chunkTokens || current.Count == 0)
                {
                    current = candidate;
                    currentTokens = tokens;
                }
                else
                {
                    Flush();
                    current = [[.. piece]];
                    currentTokens = Count(TextUnits.Join(current));
                }
                currentParagraph = p;
            }
        }
        Flush();
        return chunks;
    }

    /// <summary>A sentence as pieces within the budget: itself, else cut at words, else (a word longer than the budget) at tokens.</summary>
    static IEnumerable<string> Fit(string sentence, ITokenizer tokenizer, int budget)
    {
        if (tokenizer.Encode(sentence).Length <= budget) { yield return sentence; yield break; }
        var words = sentence.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var line = new List<string>();
        foreach (var word in words)
        {
            if (tokenizer.Encode(word).Length > budget)
            {
                if (line.Count > 0) { yield return string.Join(' ', line); line.Clear(); }
                foreach (var part in ByTokens(word, tokenizer, budget)) yield return part;
                continue;
            }
            line.Add(word);
            if (tokenizer.Encode(string.Join(' ', line)).Length > budget)
            {
                line.RemoveAt(line.Count - 1);
                yield return string.Join(' ', line);
                line = [word];
            }
        }
        if (line.Count > 0) yield return string.Join(' ', line);
    }

    static IEnumerable<string> ByTokens(string word, ITokenizer tokenizer, int budget)
    {
        var ids = tokenizer.Encode(word);
        for (int at = 0; at < ids.Length; at += budget)
        {
            var part = tokenizer.Decode(ids.Skip(at).Take(budget)).Trim();
            if (part.Length > 0) yield return part;
        }
    }
}
