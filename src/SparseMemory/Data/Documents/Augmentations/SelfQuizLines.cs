using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents.Augmentations;

/// <summary>
/// Self-quiz lines: a question about a sentence of the chunk and its answer, made by the project's statement→question
/// rules (<see cref="SelfQuiz"/>, the TriviaQA statement rules run in the other direction) with each span of the
/// sentence as the answer, written in the question–answer forms of <see cref="FactParaphraser"/>.
/// </summary>
public sealed class SelfQuizLines : IAugmentation
{
    /// <summary>The registry entry.</summary>
    public static readonly AugmentationSpec Spec = new("self_quiz", "questions about a sentence and their answers, by the statement→question rules", new SelfQuizLines());

    /// <inheritdoc/>
    public string TemplateText =>
        "Who or what Name what completes this Fill in the blank ___ … Q: A: Question: Answer: The answer is What " + string.Join(' ', EnglishVerbs.Be);

    /// <inheritdoc/>
    public IReadOnlyList<TrainingLine> Lines(Chunk chunk)
    {
        var lines = new List<TrainingLine>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var sentences = chunk.Sentences;
        foreach (var (i, span) in SentenceParts.SpansOf(sentences))
        {
            // A fact with this sentence as its only statement and the span as its answer; it has no evaluation
            // question of its own: held-out questions are filtered by the batch builder.
            var fact = new Fact($"{chunk.Id}/{i}/{span}", "", "document", span, [span], "", [sentences[i]], chunk.Id);
            foreach (var line in FactParaphraser.QuestionLines(fact, new ParaphraseOptions(AllowQuestionForm: true)))
                if (seen.Add(line.Text))
                    lines.Add(line with { Origin = $"sentence {i + 1}, answer \"{span}\": {line.Origin.Replace(" from statement 1", "")}", Strategy = Spec.Name });
        }
        return lines;
    }
}
