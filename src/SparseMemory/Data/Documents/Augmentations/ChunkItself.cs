using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents.Augmentations;

/// <summary>The chunk as it is: the one line every batch can hold (the paper's document text itself).</summary>
public sealed class ChunkItself : IAugmentation
{
    /// <summary>The registry entry.</summary>
    public static readonly AugmentationSpec Spec = new("chunk", "the chunk itself, unchanged", new ChunkItself());

    /// <inheritdoc/>
    public string TemplateText => "";

    /// <inheritdoc/>
    public IReadOnlyList<TrainingLine> Lines(Chunk chunk) => [new(chunk.Text, LineKind.Statement, "the chunk", Spec.Name)];
}
