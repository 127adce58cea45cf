using SparseMemory.Evaluation;
using Xunit;

namespace SparseMemory.Tests.Evaluation;

public sealed class MultipleChoiceMetricsTests
{
    static ContinuationScore S(double logProb, int chars) => new(logProb, 1, chars, false);

    [Fact]
    public void Accuracy_normalised_accuracy_and_margin_on_a_handmade_case()
    {
        ChoiceScores[] items =
        [
            // raw LL prefers the short wrong choice (−4 > −5); per char the gold wins (−0.5 > −2); margin −1
            new(0, [S(-5, 10), S(-4, 2)]),
            // both prefer gold; margin −1 − (−3) = 2
            new(1, [S(-3, 3), S(-1, 10)]),
            // three choices, gold worst raw and per char; margin −6 − (−2) = −4
            new(2, [S(-2, 4), S(-3, 4), S(-6, 4)]),
            // a tie goes to the first choice (numpy argmax), so gold 1 loses; margin 0
            new(1, [S(-2, 5), S(-2, 5)]),
        ];
        var r = MultipleChoiceMetrics.Score(items);
        Assert.Equal(4, r.Count);
        Assert.Equal(0.25, r.Accuracy, 12);
        Assert.Equal(0.5, r.AccuracyNorm, 12);
        Assert.Equal((-1 + 2 - 4 + 0) / 4.0, r.MeanMargin, 12);
        Assert.Equal((1.5 + 0.9 - 1.0 + 0) / 4.0, r.MeanMarginNorm, 12);
        Assert.Equal(1, MultipleChoiceMetrics.Predict(items[0].Choices, normalize: false));
        Assert.Equal(0, MultipleChoiceMetrics.Predict(items[0].Choices, normalize: true));
    }

    [Fact]
    public void Bad_gold_index_is_rejected_and_empty_input_is_nan()
    {
        Assert.Throws<ArgumentException>(() => MultipleChoiceMetrics.Score([new ChoiceScores(2, [S(-1, 1), S(-2, 1)])]));
        Assert.True(double.IsNaN(MultipleChoiceMetrics.Score([]).Accuracy));
    }

    [Fact]
    public void Nll_summary_weights_by_tokens_and_chars()
    {
        var s = NllSummary.From([new ContinuationScore(-6, 3, 12, false), new ContinuationScore(-2, 1, 4, true)]);
        Assert.Equal(2.0, s.PerToken, 12);
        Assert.Equal(4.0, s.PerItem, 12);
        Assert.Equal(0.5, s.PerChar, 12);
        Assert.Equal(4, s.Tokens);
    }
}
