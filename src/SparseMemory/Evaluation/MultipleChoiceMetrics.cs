namespace SparseMemory.Evaluation;

/// <summary>The scored choices of one multiple-choice item.</summary>
/// <param name="Gold">Index of the correct choice.</param>
/// <param name="Choices">The score of each choice (as a continuation of the shared context).</param>
public sealed record ChoiceScores(int Gold, IReadOnlyList<ContinuationScore> Choices);

/// <summary>Aggregate multiple-choice metrics.</summary>
/// <param name="Accuracy">Fraction of items whose gold choice has the highest log-likelihood (lm-eval <c>acc</c>).</param>
/// <param name="AccuracyNorm">Same with the log-likelihood divided by the choice's length in characters (lm-eval <c>acc_norm</c>).</param>
/// <param name="MeanMargin">Mean over items of LL(gold) − max LL(wrong choice) in nats (unnormalised); positive = gold preferred.</param>
/// <param name="MeanMarginNorm">Same margin on per-character log-likelihoods (the scale <paramref name="AccuracyNorm"/>
/// decides on; comparable across items whose choices differ in length).</param>
/// <param name="Count">Items scored.</param>
public sealed record MultipleChoiceResult(double Accuracy, double AccuracyNorm, double MeanMargin, double MeanMarginNorm, int Count);

/// <summary>Multiple-choice accuracy by log-likelihood, with and without per-character length normalisation.</summary>
public static class MultipleChoiceMetrics
{
    /// <summary>Index of the highest-scoring choice (the first on ties, like numpy's argmax); per character when
    /// <paramref name="normalize"/>.</summary>
    public static int Predict(IReadOnlyList<ContinuationScore> choices, bool normalize)
    {
        ArgumentNullException.ThrowIfNull(choices);
        if (choices.Count == 0) throw new ArgumentException("at least one choice is required", nameof(choices));
        int best = 0;
        double bestScore = double.NegativeInfinity;
        for (int i = 0; i < choices.Count; i++)
        {
            double s = normalize ? choices[i].LogProb / Math.Max(1, choices[i].Chars) : choices[i].LogProb;
            if (s > bestScore) { best = i; bestScore = s; }
        }
        return best;
    }

    /// <summary>LL(gold) − max LL(other choices); per character when <paramref name="normalize"/>.</summary>
    public static double Margin(ChoiceScores item, bool normalize = false)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (item.Choices.Count < 2) throw new ArgumentException("a margin needs at least two choices", nameof(item));
        double Score(ContinuationScore c) => normalize ? c.LogProb / Math.Max(1, c.Chars) : c.LogProb;
        double wrong = item.Choices.Where((_, i) => i != item.Gold).Max(Score);
        return Score(item.Choices[item.Gold]) - wrong;
    }

    /// <summary>Accuracy, normalised accuracy and mean margin over <paramref name="items"/> (NaN when empty).</summary>
    public static MultipleChoiceResult Score(IReadOnlyList<ChoiceScores> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0) return new MultipleChoiceResult(double.NaN, double.NaN, double.NaN, double.NaN, 0);
        foreach (var item in items)
            if (item.Gold < 0 || item.Gold >= item.Choices.Count)
                throw new ArgumentException($"gold index {item.Gold} is outside 0–{item.Choices.Count - 1}", nameof(items));
        return new MultipleChoiceResult(
            items.Average(it => Predict(it.Choices, normalize: false) == it.Gold ? 1.0 : 0.0),
            items.Average(it => Predict(it.Choices, normalize: true) == it.Gold ? 1.0 : 0.0),
            items.Average(it => Margin(it)),
            items.Average(it => Margin(it, normalize: true)),
            items.Count);
    }
}
