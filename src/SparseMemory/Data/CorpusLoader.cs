using SparseMemory.Config;
using SparseMemory.Data.Facts;

namespace SparseMemory.Data;

/// <summary>
/// Reads the documents a <see cref="DataConfig"/> names, in order, honouring <see cref="DataConfig.MaxChars"/> (which
/// limits the text corpus only), and mixes in the known-fact documents of <see cref="DataConfig.KnownFacts"/>.
/// </summary>
public static class CorpusLoader
{
    /// <summary>
    /// The documents of every corpus entry ("default" = the embedded corpus). With <see cref="DataConfig.KnownFacts"/>,
    /// the fact documents (<see cref="FactDocuments.Build"/>) are interleaved at seeded positions among the training
    /// documents, keeping each list's own order, and a <see cref="CorpusDocuments"/> is returned whose held-out tail
    /// (heldout_fraction of the text documents, as <see cref="PretrainData"/> takes it) holds text-corpus documents only.
    /// </summary>
    /// <param name="data">Corpus and fact settings.</param>
    /// <param name="seed">Seeds the fact documents and their positions.</param>
    public static IReadOnlyList<string> Load(DataConfig data, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(data);
        var docs = new List<string>();
        long chars = 0;
        foreach (string entry in data.Corpus)
        {
            var source = entry == "default" ? TextCorpus.ReadDefaultCorpus() : TextCorpus.ReadDocuments(entry);
            foreach (string d in source)
            {
                if (data.MaxChars > 0 && chars >= data.MaxChars) break;
                docs.Add(d);
                chars += d.Length;
            }
        }
        if (docs.Count == 0) throw new InvalidDataException($"corpus {string.Join(", ", data.Corpus)}: no documents");
        if (data.KnownFacts is null) return docs;

        var factDocs = FactDocuments.Build(FactsFile.ReadNamedOrFile(data.KnownFacts), data.FactRepeats, seed, data.KnownQaFraction, data.FactAugment);
        int held = HeldoutCount(docs.Count, data);
        if (held >= docs.Count) throw new InvalidDataException($"the text corpus has only {docs.Count} documents; at least 2 are needed (one is held out)");
        int train = docs.Count - held;
        var isFact = new bool[train + factDocs.Count];
        for (int i = 0; i < factDocs.Count; i++) isFact[i] = true;
        new Random(seed ^ 0x0fac7).Shuffle(isFact);
        var mixed = new List<string>(docs.Count + factDocs.Count);
        int nextText = 0, nextFact = 0;
        foreach (bool f in isFact) mixed.Add(f ? factDocs[nextFact++] : docs[nextText++]);
        mixed.AddRange(docs.Skip(train));
        return new CorpusDocuments(mixed, held, factDocs.Count);
    }

    /// <summary>Held-out documents among <paramref name="textDocuments"/> text-corpus documents: max(1, round(n × heldout_fraction)).</summary>
    public static int HeldoutCount(int textDocuments, DataConfig data) => Math.Max(1, (int)Math.Round(textDocuments * data.HeldoutFraction));

    /// <summary>
    /// Held-out documents at the end of <paramref name="documents"/>: the count a <see cref="CorpusDocuments"/> carries
    /// (fact documents excluded), else <see cref="HeldoutCount(int, DataConfig)"/> of the whole list.
    /// </summary>
    public static int HeldoutCount(IReadOnlyList<string> documents, DataConfig data) =>
        documents is CorpusDocuments c ? c.HeldoutCount : HeldoutCount(documents.Count, data);

    /// <summary>Training documents for the tokenizer: the non-held-out part, up to tokenizer_train_chars.</summary>
    public static IEnumerable<string> TokenizerText(IReadOnlyList<string> docs, DataConfig data)
    {
        int nHeld = HeldoutCount(docs, data);
        long chars = 0;
        foreach (string d in docs.Take(docs.Count - nHeld))
        {
            if (data.TokenizerTrainChars > 0 && chars >= data.TokenizerTrainChars) yield break;
            chars += d.Length;
            yield return d;
        }
    }
}
