namespace SparseMemory.Data.Facts;

/// <summary>Options for <see cref="FactParaphraser"/>.</summary>
/// <param name="AllowQuestionForm">
/// Also emit question-and-answer lines. Off by default: the paper trains on statements only. With it, the questions come
/// from <paramref name="Questions"/> (docs/method.md#protocol).
/// </param>
/// <param name="QuestionFraction">
/// With <paramref name="AllowQuestionForm"/>: the share of each batch drawn from the question lines (rounded to whole
/// lines); null = no quota, question lines are just part of the pool.
/// </param>
/// <param name="Questions">Where question lines come from: generated from the statements (the default) or the fact's
/// own question, which is the evaluation question (an upper bound, never a headline).</param>
public sealed record ParaphraseOptions(bool AllowQuestionForm = false, double? QuestionFraction = null,
    QuestionSource Questions = QuestionSource.Generated);

/// <summary>Where the question lines of a training batch come from (docs/method.md#protocol).</summary>
public enum QuestionSource
{
    /// <summary>Self-quiz questions generated from the statements by <see cref="SelfQuiz"/>; a line that contains the
    /// fact's evaluation question is dropped (<see cref="QuestionLeak"/>).</summary>
    Generated,

    /// <summary>The fact's own question — the question the probes ask — in every question–answer form. Trains on the
    /// test prompt: an upper bound, labelled so wherever it is reported.</summary>
    Verbatim,
}

/// <summary>What a training line is.</summary>
public enum LineKind
{
    /// <summary>A statement of the fact (possibly inside a wrapper template).</summary>
    Statement,
    /// <summary>A question and its answer.</summary>
    Question,
}

/// <summary>One line of a training batch, what it is and where it came from (shown by <c>smf finetune --dry-run</c>).</summary>
/// <param name="Text">The line.</param>
/// <param name="Kind">Statement or question.</param>
/// <param name="Origin">Where it came from, for people.</param>
/// <param name="Strategy">The document augmentation strategy that made it (docs/documents.md#strategies); null in the fact stream.</param>
public sealed record TrainingLine(string Text, LineKind Kind, string Origin, string? Strategy = null);
