using SparseMemory.Config;
using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents.Augmentations;

/// <summary>
/// A way to turn one chunk into training lines without a language model (docs/documents.md#strategies). A strategy
/// lists every line it can make from a chunk (its pool, a function of the chunk alone); the batch builder draws from
/// the pools with a seed per step (<see cref="AugmentedBatch"/>). Every word of a line comes from the chunk or from the
/// strategy's <see cref="TemplateText"/>.
/// </summary>
public interface IAugmentation
{
    /// <summary>Every line this strategy makes from <paramref name="chunk"/>, in a fixed order; empty when it does not apply.</summary>
    IReadOnlyList<TrainingLine> Lines(Chunk chunk);

    /// <summary>The words the strategy's templates add (everything else in its lines is the chunk's).</summary>
    string TemplateText { get; }
}

/// <summary>A registered augmentation strategy: its name (as in <c>data.strategies</c>), a line of description, the strategy.</summary>
public sealed record AugmentationSpec(string Name, string Description, IAugmentation Strategy) : INamedEntry;

/// <summary>
/// The augmentation registry: <c>data.strategies</c> names entries here. A new strategy is one file (an
/// <see cref="IAugmentation"/> with a static <c>Spec</c>) and one line below.
/// </summary>
public static class Augmentations
{
    /// <summary>Every strategy, in batch order (the default <c>data.strategies</c> is all of them).</summary>
    public static readonly Registry<AugmentationSpec> Registry = new("augmentation strategy",
    [
        ChunkItself.Spec,
        SentenceParaphrase.Spec,
        SentenceReorder.Spec,
        EntityTopic.Spec,
        ClozeLines.Spec,
        SelfQuizLines.Spec,
    ]);

    /// <summary>Problems of a <c>data.strategies</c> list: unknown names, duplicates, an empty list.</summary>
    public static List<string> Problems(IReadOnlyList<string> names, string field = "data.strategies")
    {
        var e = new List<string>();
        if (names.Count == 0) e.Add($"{field} must name at least one strategy: {string.Join(", ", Registry.Names)}");
        foreach (var n in names)
            if (Registry.Find(n) is null) e.Add(Registry.UnknownMessage(n, field));
        var dup = names.Select(n => Registry.Find(n)?.Name).Where(n => n is not null).GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) e.Add($"{field} names \"{dup.Key}\" twice");
        return e;
    }

    /// <summary>The specs a valid list names, in the list's order.</summary>
    public static IReadOnlyList<AugmentationSpec> Resolve(IReadOnlyList<string> names) =>
        names.Select(n => Registry.Get(n, "data.strategies")).ToList();
}
