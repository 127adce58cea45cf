namespace SparseMemory.Data.Facts;

/// <summary>
/// One fact to learn or probe. A package fact reads naturally as a triple, e.g.
/// (<c>Ghana</c>, <c>capital</c>, <c>Accra</c>) with the question "What is the capital of Ghana?"; a TriviaQA
/// fact has the question as its <see cref="Subject"/>, the relation <see cref="TriviaQaRelation"/> and the answer
/// as its <see cref="Object"/>.
/// </summary>
/// <param name="Id">Stable identifier, unique within a fact set (seeds the paraphrase sampler).</param>
/// <param name="Subject">What the fact is about.</param>
/// <param name="Relation">The relation, e.g. <c>capital</c>.</param>
/// <param name="Object">The answer as written in statements.</param>
/// <param name="Aliases">Every accepted answer for QA scoring, <see cref="Object"/> included.</param>
/// <param name="Question">The question form used by QA probes.</param>
/// <param name="Statements">Declarative statements of the fact; the first is the canonical one.</param>
/// <param name="Source">Where the fact came from, e.g. <c>triviaqa_sm_sub.jsonl:17</c>.</param>
public sealed record Fact(
    string Id,
    string Subject,
    string Relation,
    string Object,
    IReadOnlyList<string> Aliases,
    string Question,
    IReadOnlyList<string> Statements,
    string Source)
{
    /// <summary>The relation name used for TriviaQA facts.</summary>
    public const string TriviaQaRelation = "answer";

    /// <summary>The canonical statement.</summary>
    public string Statement => Statements[0];
}
