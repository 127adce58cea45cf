namespace SparseMemory.Data.Facts;

/// <summary>
/// A declarative statement made from a question and its answer, the rule that produced it, and equivalent
/// reorderings (e.g. the lead clause moved to the end, or the two sides of a copula swapped).
/// </summary>
public sealed record TriviaQaStatement(string Text, StatementRule Rule, IReadOnlyList<string> Alternatives);
