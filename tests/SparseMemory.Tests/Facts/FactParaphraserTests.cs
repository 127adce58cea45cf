using SparseMemory.Data.Facts;
using Xunit;

namespace SparseMemory.Tests.Facts;

public sealed class FactParaphraserTests
{
    private static readonly Fact Ghana = new(
        "ghana-capital", "Ghana", "capital", "Accra", ["Accra"], "What is the capital of Ghana?",
        ["The capital of Ghana is Accra.", "Accra is the capital of Ghana."], "test");

    [Fact]
    public void Should_be_deterministic_given_the_seed()
    {
        Assert.Equal(FactParaphraser.Paraphrases(Ghana, 64, seed: 7), FactParaphraser.Paraphrases(Ghana, 64, seed: 7));
        Assert.NotEqual(FactParaphraser.Paraphrases(Ghana, 64, seed: 7), FactParaphraser.Paraphrases(Ghana, 64, seed: 8));
    }

    [Fact]
    public void Should_give_distinct_paraphrases_while_the_pool_lasts()
    {
        var pool = FactParaphraser.Pool(Ghana);
        Assert.True(pool.Count >= 64, $"pool has {pool.Count} texts");
        var paraphrases = FactParaphraser.Paraphrases(Ghana, 64, seed: 1);
        Assert.Equal(64, paraphrases.Distinct().Count());
        Assert.All(paraphrases, p => Assert.Contains("Accra", p));
    }

    [Fact]
    public void Should_lower_only_function_word_openers()
    {
        var pool = FactParaphraser.Pool(Ghana);
        Assert.Contains("It is known that the capital of Ghana is Accra.", pool);
        Assert.Contains("It is known that Accra is the capital of Ghana.", pool);
    }

    [Fact]
    public void Should_use_question_forms_only_when_allowed()
    {
        Assert.DoesNotContain(FactParaphraser.Pool(Ghana), p => p.Contains(Ghana.Question, StringComparison.Ordinal));
        var verbatim = FactParaphraser.Pool(Ghana, new ParaphraseOptions(AllowQuestionForm: true, Questions: QuestionSource.Verbatim));
        Assert.Contains("Q: What is the capital of Ghana? A: Accra", verbatim);
        var generated = FactParaphraser.Pool(Ghana, new ParaphraseOptions(AllowQuestionForm: true));
        Assert.Contains("Q: The capital of Ghana is what? A: Accra", generated);
        Assert.DoesNotContain(generated, p => QuestionLeak.Contains(p, Ghana.Question));
    }

    [Theory]
    [InlineData(16, 0.25, 4)]
    [InlineData(16, 0.0, 0)]
    [InlineData(10, 0.5, 5)]
    [InlineData(7, 1.0, 7)]
    [InlineData(64, 0.1, 6)]
    public void A_question_fraction_is_an_exact_quota_per_batch(int count, double fraction, int expected)
    {
        var options = new ParaphraseOptions(AllowQuestionForm: true, QuestionFraction: fraction, Questions: QuestionSource.Verbatim);
        var questions = FactParaphraser.QuestionTexts(Ghana).ToHashSet();
        Assert.Contains("Question: What is the capital of Ghana?\nAnswer: Accra", questions);   // the probes' QA format
        for (int seed = 0; seed < 5; seed++)
        {
            var texts = FactParaphraser.Paraphrases(Ghana, count, seed, options);
            Assert.Equal(count, texts.Count);
            Assert.Equal(expected, texts.Count(questions.Contains));
            Assert.Equal(texts, FactParaphraser.Paraphrases(Ghana, count, seed, options));            // deterministic
        }
    }

    [Fact]
    public void Should_reuse_the_pool_when_more_paraphrases_are_requested()
    {
        var count = FactParaphraser.Pool(Ghana).Count + 5;
        Assert.Equal(count, FactParaphraser.Paraphrases(Ghana, count, seed: 3).Count);
    }
}
