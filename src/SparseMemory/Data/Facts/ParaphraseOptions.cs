namespace SparseMemory.Data.Facts;

/// <summary>Options for <see cref="FactParaphraser"/>.</summary>
/// <param name="AllowQuestionForm">
/// Also emit question-and-answer texts ("Q: … A: …", and the QA format the probes ask in). Off by default: the paper
/// trains on statements only, and question forms teach the probe format (a self-quiz augmentation; docs/method.md#recipe).
/// </param>
/// <param name="QuestionFraction">
/// With <paramref name="AllowQuestionForm"/>: the share of each batch drawn from the question forms (rounded to whole
/// paraphrases); null = no quota, question forms are just part of the pool (about 4 in 70 texts per statement).
/// </param>
public sealed record ParaphraseOptions(bool AllowQuestionForm = false, double? QuestionFraction = null);
