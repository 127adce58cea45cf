using SparseMemory.Finetuning;
using Xunit;

namespace SparseMemory.Tests.Finetuning;

public sealed class SlotCountsTests
{
    [Fact]
    public void Sum_adds_micro_batches_and_checks_compatibility()
    {
        var a = SlotCounts.FromArray([1, 0, 2]);
        var b = SlotCounts.FromArray([0, 0, 5]);
        var sum = SlotCounts.Sum([a, b]);
        Assert.Equal(new long[] { 1, 0, 7 }, sum.Counts);
        Assert.Equal(8, sum.TotalAccesses);
        Assert.Equal(2, sum.ReadSlotCount);
        Assert.Throws<ArgumentException>(() => SlotCounts.Sum([a, SlotCounts.FromArray([1, 2])]));
        Assert.Throws<ArgumentException>(() => SlotCounts.Sum([a, SlotCounts.FromArray([1, 2, 3], PadPolicy.IncludePadding)]));
        Assert.Throws<ArgumentException>(() => SlotCounts.FromArray([1, -1]));
    }

    [Fact]
    public void Kl_selects_negative_scores_only_to_fill_t_and_reports_them()
    {
        // Slot 0 dominates the background, so its batch probability is below p_bg: a negative KL score.
        var bg = new BackgroundStats(4, "fp");
        bg.Accumulate(SlotCounts.FromArray([1000, 0, 0, 0]));
        var counts = new long[] { 1, 1, 1, 0 };
        var top2 = new KlRanker().Select(counts, bg, 2);
        Assert.Equal(new long[] { 1, 2 }, top2.SlotIds);
        Assert.Equal(0, top2.NegativeScoreSelected);

        var top3 = new KlRanker().Select(counts, bg, 3);
        Assert.Equal(new long[] { 1, 2, 0 }, top3.SlotIds);
        Assert.Equal(1, top3.NegativeScoreSelected);
        Assert.True(top3.Scores[2] < 0);
    }
}
