using SparseMemory.Data;
using SparseMemory.Model;

namespace SparseMemory.Evaluation;

/// <summary>Negative log-likelihood aggregated over many continuations.</summary>
/// <param name="PerToken">Total NLL / total tokens (nats per token; exp of it is the perplexity).</param>
/// <param name="PerItem">Mean NLL of a whole continuation.</param>
/// <param name="PerChar">Total NLL / total characters (NaN for token-level scores).</param>
/// <param name="Tokens">Total tokens scored.</param>
/// <param name="Count">Continuations scored.</param>
public sealed record NllSummary(double PerToken, double PerItem, double PerChar, long Tokens, int Count)
{
    /// <summary>exp(<see cref="PerToken"/>).</summary>
    public double Perplexity => Math.Exp(PerToken);

    /// <summary>Aggregates scores (all NaN when there are none).</summary>
    public static NllSummary From(IReadOnlyList<ContinuationScore> scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Count == 0) return new NllSummary(double.NaN, double.NaN, double.NaN, 0, 0);
        double total = scores.Sum(s => s.Nll);
        long tokens = scores.Sum(s => (long)s.Tokens);
        long chars = scores.Sum(s => (long)s.Chars);
        return new NllSummary(tokens > 0 ? total / tokens : double.NaN, total / scores.Count,
            chars > 0 ? total / chars : double.NaN, tokens, scores.Count);
    }
}

/// <summary>Likelihood metrics built on <see cref="LogLikelihood"/>: answer NLL, sentence-pair accuracy, document NLL.</summary>
public static class LikelihoodMetrics
{
    /// <summary>
    /// NLL of each gold answer given its prompt. The answer is scored as the continuation <c>" " + answer</c> of the
    /// prompt (the space belongs to the answer's first token, as in <c>QaFormat.Example</c>).
    /// </summary>
    public static IReadOnlyList<ContinuationScore> AnswerScores(LanguageModel model, ITokenizer tokenizer,
        IReadOnlyList<(string Prompt, string Answer)> items, int batchSize = LogLikelihood.DefaultBatchSize) =>
        LogLikelihood.ScoreContinuations(model, tokenizer, items.Select(it => (it.Prompt, " " + it.Answer.Trim())).ToArray(), batchSize);

    /// <summary>
    /// Full-sentence log-likelihood of each sentence, scored after an end-of-text token (a document boundary),
    /// so the first word is scored too.
    /// </summary>
    public static IReadOnlyList<ContinuationScore> SentenceScores(LanguageModel model, ITokenizer tokenizer,
        IReadOnlyList<string> sentences, int batchSize = LogLikelihood.DefaultBatchSize) =>
        LogLikelihood.ScoreContinuations(model, tokenizer, sentences.Select(s => ("", s)).ToArray(), batchSize);

    /// <summary>Per pair: 1 when LL(good) &gt; LL(bad) strictly (a tie counts as wrong), else 0.</summary>
    public static IReadOnlyList<bool> PairCorrect(LanguageModel model, ITokenizer tokenizer,
        IReadOnlyList<(string Good, string Bad)> pairs, int batchSize = LogLikelihood.DefaultBatchSize)
    {
        var sentences = pairs.SelectMany(p => new[] { p.Good, p.Bad }).ToArray();
        var s = SentenceScores(model, tokenizer, sentences, batchSize);
        return Enumerable.Range(0, pairs.Count).Select(i => s[2 * i].LogProb > s[2 * i + 1].LogProb).ToArray();
    }

    /// <summary>
    /// Per-document NLL of background text: each document is scored in full after an end-of-text token (long documents
    /// in pieces, see <see cref="LogLikelihood"/>). Aggregate with <see cref="NllSummary.From"/>.
    /// </summary>
    public static IReadOnlyList<ContinuationScore> DocumentScores(LanguageModel model, ITokenizer tokenizer,
        IReadOnlyList<string> documents, int batchSize = LogLikelihood.DefaultBatchSize) =>
        SentenceScores(model, tokenizer, documents, batchSize);
}
