using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents.Augmentations;

/// <summary>
/// Cloze lines: a sentence with one span blanked (a number, a name, the complement of a final copula), followed by the
/// span, so the answer comes after its cue ("Fill in the blank: The capital of Ghana is ___. Answer: Accra").
/// </summary>
public sealed class ClozeLines : IAugmentation
{
    /// <summary>The registry entry.</summary>
    public static readonly AugmentationSpec Spec = new("cloze", "a sentence with a name or number blanked, then the blank's answer", new ClozeLines());

    // {0} = the sentence with ___, {1} = the span.
    static readonly string[] Forms = ["Fill in the blank: {0} Answer: {1}", "{0} The blank is {1}.", "Complete: {0}\nAnswer: {1}"];

    /// <inheritdoc/>
    public string TemplateText => string.Join(' ', Forms);

    /// <inheritdoc/>
    public IReadOnlyList<TrainingLine> Lines(Chunk chunk)
    {
        var lines = new List<TrainingLine>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var sentences = chunk.Sentences;
        foreach (var (i, span) in SentenceParts.SpansOf(sentences))
        {
            int at = sentences[i].IndexOf(span, StringComparison.Ordinal);
            if (at < 0) continue;
            var cloze = sentences[i][..at] + "___" + sentences[i][(at + span.Length)..];
            foreach (var form in Forms)
            {
                var text = string.Format(System.Globalization.CultureInfo.InvariantCulture, form, cloze, span);
                if (seen.Add(text)) lines.Add(new TrainingLine(text, LineKind.Question, $"sentence {i + 1} with \"{span}\" blanked", Spec.Name));
            }
        }
        return lines;
    }
}
