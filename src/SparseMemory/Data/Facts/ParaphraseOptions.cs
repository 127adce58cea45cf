namespace SparseMemory.Data.Facts;

/// <summary>Options for <see cref="FactParaphraser"/>.</summary>
/// <param name="AllowQuestionForm">
/// Also emit question-and-answer texts ("Q: … A: …"). Off by default: the paper trains on statements only, and
/// question forms would leak the probe format into training.
/// </param>
public sealed record ParaphraseOptions(bool AllowQuestionForm = false);
