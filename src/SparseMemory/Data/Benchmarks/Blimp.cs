namespace SparseMemory.Data.Benchmarks;

/// <summary>Reader for the BLiMP folder: one gzip-compressed JSONL file of minimal pairs per paradigm.</summary>
public static class Blimp
{
    /// <summary>File name suffix of a paradigm file.</summary>
    public const string FileSuffix = ".jsonl.gz";

    /// <summary>The paradigm names (file names without <see cref="FileSuffix"/>) in ordinal order.</summary>
    public static IReadOnlyList<string> Paradigms(string directory) =>
        Directory.GetFiles(directory, "*" + FileSuffix)
            .Select(f => Path.GetFileName(f)[..^FileSuffix.Length])
            .Order(StringComparer.Ordinal)
            .ToArray();

    /// <summary>
    /// Reads the pairs of <paramref name="paradigms"/> (all paradigms when null), at most
    /// <paramref name="perParadigmLimit"/> per paradigm, in the order the paradigms are given.
    /// </summary>
    /// <exception cref="FileNotFoundException">A requested paradigm has no file.</exception>
    /// <exception cref="InvalidDataException">A line is malformed.</exception>
    public static IReadOnlyList<BlimpPair> Read(
        string directory, IEnumerable<string>? paradigms = null, int perParadigmLimit = int.MaxValue)
    {
        var pairs = new List<BlimpPair>();
        foreach (var paradigm in paradigms ?? Paradigms(directory))
            pairs.AddRange(ReadParadigm(directory, paradigm, perParadigmLimit));
        return pairs;
    }

    /// <summary>Reads up to <paramref name="limit"/> pairs of one paradigm.</summary>
    public static IReadOnlyList<BlimpPair> ReadParadigm(string directory, string paradigm, int limit = int.MaxValue)
    {
        var path = Path.Combine(directory, paradigm + FileSuffix);
        if (!File.Exists(path)) throw new FileNotFoundException($"BLiMP paradigm '{paradigm}' not found", path);
        return BenchmarkLines.ReadJsonl(path, limit, json => new BlimpPair(
            json.String("sentence_good"), json.String("sentence_bad"), json.String("UID"),
            json.String("field"), json.String("linguistics_term"), json.String("pairID")));
    }
}
