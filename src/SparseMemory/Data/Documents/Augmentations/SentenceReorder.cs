using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents.Augmentations;

/// <summary>
/// The chunk's sentences in other orders, where that keeps the meaning: a sentence that opens with a pronoun or a
/// connective ("He …", "However, …", "This …") stays after the sentence before it, so only self-contained blocks move.
/// A chunk of one block gives no lines.
/// </summary>
public sealed class SentenceReorder : IAugmentation
{
    /// <summary>The registry entry.</summary>
    public static readonly AugmentationSpec Spec = new("reorder", "the chunk's self-contained sentence blocks in other orders", new SentenceReorder());

    /// <summary>Most orders listed per chunk.</summary>
    public const int MaxOrders = 24;

    static readonly HashSet<string> Dependent = new(StringComparer.Ordinal)
    {
        "He", "She", "It", "They", "This", "These", "That", "Those", "His", "Her", "Its", "Their", "Him", "Them", "Such", "There",
        "However", "But", "And", "So", "Then", "Also", "Thus", "Therefore", "Meanwhile", "Later", "Afterwards", "Finally",
        "Moreover", "Furthermore", "Instead", "Still", "Yet", "Both", "Another", "Otherwise", "Nevertheless", "Hence", "Here",
    };

    /// <inheritdoc/>
    public string TemplateText => "";

    /// <inheritdoc/>
    public IReadOnlyList<TrainingLine> Lines(Chunk chunk)
    {
        var blocks = new List<List<string>>();
        foreach (var paragraph in chunk.Paragraphs)
            for (int i = 0; i < paragraph.Count; i++)
            {
                var first = paragraph[i].Split(' ')[0].TrimEnd(',', ';', ':');
                if (i > 0 && Dependent.Contains(first)) blocks[^1].Add(paragraph[i]);
                else blocks.Add([paragraph[i]]);
            }
        if (blocks.Count < 2) return [];
        var original = string.Join(' ', blocks.SelectMany(b => b));
        var seen = new HashSet<string>(StringComparer.Ordinal) { original };
        var lines = new List<TrainingLine>();
        var order = Enumerable.Range(0, blocks.Count).ToArray();
        void Add(int[] o, string how)
        {
            var text = string.Join(' ', o.SelectMany(i => blocks[i]));
            if (lines.Count < MaxOrders && seen.Add(text))
                lines.Add(new TrainingLine(text, LineKind.Statement, $"{blocks.Count} sentence blocks {how}: {string.Join(",", o.Select(i => i + 1))}", Spec.Name));
        }
        Add(order.Reverse().ToArray(), "reversed");
        for (int r = 1; r < blocks.Count; r++) Add(order.Skip(r).Concat(order.Take(r)).ToArray(), "rotated");
        // Further orders from a seed that depends on the chunk alone, so the pool is a function of the chunk.
        var random = new Random(FactParaphraser.StableHash(chunk.Text));
        for (int tries = 0; tries < 4 * MaxOrders && lines.Count < MaxOrders; tries++)
        {
            var o = order.ToArray();
            random.Shuffle(o);
            Add(o, "shuffled");
        }
        return lines;
    }
}
