namespace SparseMemory.Data.Benchmarks;

// The item records are a few lines each; they live together here so the readers' files stay about parsing.

/// <summary>One NaturalQuestions-open item: a lower-case question and every accepted answer.</summary>
public sealed record NqOpenItem(string Question, IReadOnlyList<string> Answers);

/// <summary>
/// One TriviaQA item. <see cref="Question"/> is extracted from <see cref="Context"/>
/// (<c>"Question: …\nAnswer:"</c>); <see cref="Aliases"/> are the accepted answers as published.
/// </summary>
public sealed record TriviaQaItem(string Question, string Answer, IReadOnlyList<string> Aliases, string Context);

/// <summary>One HellaSwag item: activity label, context, index of the gold ending (0–3), four endings.</summary>
public sealed record HellaSwagItem(string Label, string Context, int Gold, IReadOnlyList<string> Endings)
{
    /// <summary>The context joined to ending <paramref name="ending"/> with a single space.</summary>
    public string Completed(int ending) => Context + " " + Endings[ending];
}

/// <summary>One GSM8K item; <see cref="Answer"/> is the published solution ending in <c>#### n</c>.</summary>
public sealed record Gsm8kItem(string Question, string Answer, string FinalAnswer, string Solution);

/// <summary>One BLiMP minimal pair; the pair is scored correct when LL(good) &gt; LL(bad).</summary>
public sealed record BlimpPair(
    string SentenceGood, string SentenceBad, string Uid, string Field, string LinguisticsTerm, string PairId);

/// <summary>One LAMBADA item: a passage and its single target word.</summary>
public sealed record LambadaItem(string Context, string Continuation);

/// <summary>One multiple-choice item (ARC-Easy, PIQA): the query as published, the choices, the gold index.</summary>
public sealed record MultipleChoiceItem(string Query, IReadOnlyList<string> Choices, int Gold);
