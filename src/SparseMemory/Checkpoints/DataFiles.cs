using SparseMemory.Data;
using SparseMemory.Data.Facts;

namespace SparseMemory.Checkpoints;

/// <summary>
/// Files in the formats the Data namespace defines, written through the one atomic write. Data knows the formats
/// (it serialises to a stream); this layer knows how bytes reach the disk (docs/persistence.md#the-atomic-write).
/// </summary>
public static class DataFiles
{
    /// <summary>Writes facts as JSONL (gzip'd when the name ends in .gz), atomically.</summary>
    public static void WriteFacts(string path, IEnumerable<Fact> facts) =>
        AtomicFile.Write(path, fs => FactsFile.WriteTo(fs, facts, path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)));

    /// <summary>Writes a Hugging Face <c>tokenizer.json</c>, atomically.</summary>
    public static void SaveTokenizer(this ByteLevelBpeTokenizer tokenizer, string path) => AtomicFile.Write(path, tokenizer.WriteTo);
}
