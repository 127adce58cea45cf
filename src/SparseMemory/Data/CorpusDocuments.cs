using System.Collections;

namespace SparseMemory.Data;

/// <summary>
/// The documents <see cref="CorpusLoader.Load"/> returns: training documents (text corpus and known-fact documents
/// interleaved) followed by <see cref="HeldoutCount"/> held-out text-corpus documents. Carrying the held-out count
/// keeps the held-out share a fraction of the <em>text</em> corpus, however many fact documents are mixed in.
/// </summary>
public sealed class CorpusDocuments : IReadOnlyList<string>
{
    private readonly IReadOnlyList<string> _docs;

    /// <summary>Wraps <paramref name="docs"/>, whose last <paramref name="heldoutCount"/> entries are held out.</summary>
    public CorpusDocuments(IReadOnlyList<string> docs, int heldoutCount, int factDocuments)
    {
        ArgumentNullException.ThrowIfNull(docs);
        ArgumentOutOfRangeException.ThrowIfLessThan(heldoutCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(heldoutCount, docs.Count);
        _docs = docs;
        HeldoutCount = heldoutCount;
        FactDocuments = factDocuments;
    }

    /// <summary>Documents at the end held out for evaluation (text corpus only).</summary>
    public int HeldoutCount { get; }

    /// <summary>Known-fact documents among the training documents.</summary>
    public int FactDocuments { get; }

    /// <inheritdoc/>
    public string this[int index] => _docs[index];

    /// <inheritdoc/>
    public int Count => _docs.Count;

    /// <inheritdoc/>
    public IEnumerator<string> GetEnumerator() => _docs.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
