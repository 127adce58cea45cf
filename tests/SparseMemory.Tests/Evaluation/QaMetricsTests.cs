using SparseMemory.Evaluation;
using Xunit;

namespace SparseMemory.Tests.Evaluation;

public sealed class QaMetricsTests
{
    [Theory]
    [InlineData("The Cat, a dog!", "cat dog")]
    [InlineData("  An  apple's   THE end ", "apples end")]
    [InlineData("Theatre and Anthem", "theatre and anthem")] // articles only as whole words
    [InlineData("U.S.A.", "usa")]
    [InlineData("the", "")]
    [InlineData("Pelé (footballer)", "pelé footballer")] // non-ASCII letters stay, ASCII punctuation goes
    public void Should_normalize_like_squad(string text, string expected) =>
        Assert.Equal(expected, QaMetrics.Normalize(text));

    [Fact]
    public void Should_match_exactly_after_normalization()
    {
        Assert.Equal(1.0, QaMetrics.ExactMatch("the Beatles", "Beatles"));
        Assert.Equal(1.0, QaMetrics.ExactMatch("U.S.A.", "usa"));
        Assert.Equal(0.0, QaMetrics.ExactMatch("Beatles band", "Beatles"));
    }

    [Fact]
    public void Should_compute_token_f1_by_hand()
    {
        // pred [cat sat on mat], gold [cat sat]: overlap 2, P = 2/4, R = 2/2, F1 = 2·0.5·1/1.5 = 2/3
        Assert.Equal(2.0 / 3.0, QaMetrics.F1("cat sat on mat", "the cat sat"), 12);
        Assert.Equal(1.0, QaMetrics.F1("The Eiffel Tower.", "eiffel tower"));
        Assert.Equal(0.0, QaMetrics.F1("London", "Paris"));
    }

    [Fact]
    public void Should_count_repeated_tokens_as_a_multiset()
    {
        // pred [cat cat cat], gold [cat dog]: overlap min(3,1) = 1, P = 1/3, R = 1/2, F1 = (2/6)/(5/6) = 0.4
        Assert.Equal(0.4, QaMetrics.F1("the the cat cat cat", "cat dog"), 12);
    }

    [Fact]
    public void Should_take_the_maximum_over_aliases()
    {
        // vs "new york": overlap 2, P = 2/3, R = 1, F1 = (4/3)/(5/3) = 0.8; vs "nyc": 0
        Assert.Equal(0.8, QaMetrics.F1("New York City", ["NYC", "New York"]), 12);
        Assert.Equal(0.0, QaMetrics.ExactMatch("New York City", ["NYC", "New York"]));
        Assert.Equal(1.0, QaMetrics.ExactMatch("an onion", ["Onion skins", "Onion"]));
    }

    [Fact]
    public void Should_score_an_empty_prediction_like_the_reference_script()
    {
        Assert.Equal(0.0, QaMetrics.F1("", "Paris"));
        Assert.Equal(0.0, QaMetrics.ExactMatch("", "Paris"));
        // Both normalise to "": exact match 1, but F1 0 because there is no common token.
        Assert.Equal(1.0, QaMetrics.ExactMatch("", "the"));
        Assert.Equal(0.0, QaMetrics.F1("", "the"));
    }

    [Fact]
    public void Should_require_at_least_one_gold_answer() =>
        Assert.Throws<ArgumentException>(() => QaMetrics.F1("x", Array.Empty<string>()));
}
