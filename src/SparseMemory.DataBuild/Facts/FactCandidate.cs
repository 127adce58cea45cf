using SparseMemory.Data;
using SparseMemory.Data.Facts;
namespace SparseMemory.DataBuild.Facts;

/// <summary>
/// A raw triple read from a package, before templating: (<see cref="Subject"/>, <see cref="Relation"/>,
/// <see cref="Object"/>) plus accepted answer variants. <see cref="RelationTemplates.ToFact"/> turns it into a
/// <see cref="Fact"/> with a question and statements.
/// </summary>
/// <param name="Relation">One of <see cref="RelationTemplates.Names"/>.</param>
/// <param name="Subject">What the fact is about (whitespace-normalised).</param>
/// <param name="Object">The answer (whitespace-normalised, 1–3 words).</param>
/// <param name="Aliases">Other accepted answers (the object itself need not be listed).</param>
/// <param name="Source">Package file and line, e.g. <c>calendar.history:12</c>.</param>
/// <param name="Detail">Extra wording some templates need (e.g. the subdivision type "province"), else null.</param>
public sealed record FactCandidate(
    string Relation,
    string Subject,
    string Object,
    IReadOnlyList<string> Aliases,
    string Source,
    string? Detail = null);
