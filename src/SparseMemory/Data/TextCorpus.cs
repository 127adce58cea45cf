namespace SparseMemory.Data;
// PLACEHOLDER until the corpus reader lands.
/// <summary>Corpus reading.</summary>
public static class TextCorpus
{
    /// <summary>Reads documents.</summary>
    public static IEnumerable<string> ReadDocuments(string path) => File.ReadAllText(path).Split("\n\n");
    /// <summary>Default corpus.</summary>
    public static Stream OpenDefaultCorpus() => throw new NotImplementedException();
    /// <summary>Default docs.</summary>
    public static IEnumerable<string> ReadDefault() => ReadDocuments("/work/main/tmpcorpus.txt");
}
