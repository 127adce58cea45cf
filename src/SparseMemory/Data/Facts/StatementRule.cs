namespace SparseMemory.Data.Facts;

/// <summary>Which rule of <see cref="TriviaQaStatements"/> turned a question into a statement.</summary>
public enum StatementRule
{
    /// <summary>"Who wrote X?" → "&lt;A&gt; wrote X." (also "Whose …").</summary>
    WhoSubject,

    /// <summary>"Which/What X founded Y?" → "&lt;A&gt; founded Y." (main verb or has/had/modal after the wh-phrase).</summary>
    WhSubjectVerb,

    /// <summary>"Which X is served by Y?" → "&lt;A&gt; is served by Y."</summary>
    CopulaAnswerFirst,

    /// <summary>"What is the name of X?" → "The name of X is &lt;A&gt;."</summary>
    CopulaAnswerLast,

    /// <summary>"Which fruit did X sell?" → "The fruit that X sold was &lt;A&gt;." / "What X did …" pseudo-cleft; "Who did X marry?" → "X married &lt;A&gt;."</summary>
    ObjectCleft,

    /// <summary>"In which year did X sink?" → "X sank in &lt;A&gt;."; "In which city was X born?" → "X was born in &lt;A&gt;."</summary>
    PrepositionFronted,

    /// <summary>"Where/When was X born?" → "X was born in &lt;A&gt;."</summary>
    WhereWhen,

    /// <summary>"How many X make Y?" → "&lt;A&gt; X make Y."</summary>
    HowMany,

    /// <summary>"Who was X named after?" → "X was named after &lt;A&gt;."</summary>
    StrandedPreposition,

    /// <summary>"Name the X" → "The X is &lt;A&gt;."</summary>
    NameImperative,

    /// <summary>"How is X better known?" → "X is better known as &lt;A&gt;."</summary>
    HowKnown,

    /// <summary>"X is part of which country?" → "X is part of &lt;A&gt;." (the wh-phrase replaced in place).</summary>
    InSitu,

    /// <summary>"The unit of X is?" → "The unit of X is &lt;A&gt;." (no wh-word; the answer completes the sentence).</summary>
    Completion,

    /// <summary>No rule applied: "&lt;question&gt; — &lt;answer&gt;."</summary>
    Fallback,
}
