namespace SparseMemory.Data.Documents;

/// <summary>One document to learn from (docs/documents.md).</summary>
/// <param name="Id">Stable identifier: the JSONL <c>id</c>, else <c>FILE:LINE</c> or the file's name.</param>
/// <param name="Title">Optional title (JSONL <c>title</c>); not trained on by itself.</param>
/// <param name="Text">The text; paragraphs are separated by blank lines.</param>
/// <param name="Source">Where it came from, <c>FILE:LINE</c>, for messages.</param>
public sealed record Document(string Id, string? Title, string Text, string Source);
