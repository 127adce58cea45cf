namespace SparseMemory.Data.Facts;

/// <summary>
/// The one question-answer text format used in pretraining documents, finetuning text (when the question form is
/// allowed) and QA probes, so the model learns exactly the format it is probed with. It matches the TriviaQA
/// "context" field of the shared benchmark file: <c>Question: …\nAnswer:</c>.
/// </summary>
public static class QaFormat
{
    /// <summary>The probe prompt for a question (the model continues it with " answer\n").</summary>
    public static string Prompt(string question) => $"Question: {question.Trim()}\nAnswer:";

    /// <summary>A full QA example as it appears in training text.</summary>
    public static string Example(string question, string answer) => $"{Prompt(question)} {answer.Trim()}\n";
}
