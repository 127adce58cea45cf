using SparseMemory.Config;

namespace SparseMemory.Data;

/// <summary>Reads the documents a <see cref="DataConfig"/> names, in order, honouring <see cref="DataConfig.MaxChars"/>.</summary>
public static class CorpusLoader
{
    /// <summary>The documents of every corpus entry ("default" = the embedded corpus).</summary>
    public static IReadOnlyList<string> Load(DataConfig data)
    {
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
        return docs;
    }

    /// <summary>Training documents for the tokenizer: the non-held-out part, up to tokenizer_train_chars.</summary>
    public static IEnumerable<string> TokenizerText(IReadOnlyList<string> docs, DataConfig data)
    {
        int nHeld = Math.Max(1, (int)Math.Round(docs.Count * data.HeldoutFraction));
        long chars = 0;
        foreach (string d in docs.Take(docs.Count - nHeld))
        {
            if (data.TokenizerTrainChars > 0 && chars >= data.TokenizerTrainChars) yield break;
            chars += d.Length;
            yield return d;
        }
    }
}
