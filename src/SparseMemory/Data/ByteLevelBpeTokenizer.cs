using System.Text;

namespace SparseMemory.Data;

// PLACEHOLDER (bytes only, no merges) until the BPE trainer lands; same public surface.
/// <summary>Byte-level tokenizer.</summary>
public sealed class ByteLevelBpeTokenizer
{
    /// <summary>End-of-text id.</summary>
    public int EosId => 256;
    /// <summary>Pad id.</summary>
    public int PadId => 257;
    /// <summary>Vocabulary size.</summary>
    public int VocabSize => 258;
    /// <summary>Trains.</summary>
    public static ByteLevelBpeTokenizer Train(IEnumerable<string> texts, int vocabSize, IReadOnlyList<string>? specialTokens = null) => new();
    /// <summary>Encodes.</summary>
    public int[] Encode(string text) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();
    /// <summary>Decodes.</summary>
    public string Decode(IEnumerable<int> ids) => Encoding.UTF8.GetString(ids.Where(i => i < 256).Select(i => (byte)i).ToArray());
    /// <summary>Saves.</summary>
    public void Save(string path) => File.WriteAllText(path, "{}");
    /// <summary>Loads.</summary>
    public static ByteLevelBpeTokenizer Load(string path) => File.Exists(path) ? new() : throw new FileNotFoundException(path);
}
