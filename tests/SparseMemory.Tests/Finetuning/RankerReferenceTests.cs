using SparseMemory.Config;
using SparseMemory.Finetuning;
using TorchSharp;
using Xunit;

namespace SparseMemory.Tests.Finetuning;

/// <summary>Production counting and ranking against the plain-loop references of docs/testing.md#reference-implementations.</summary>
public sealed class RankerReferenceTests
{
    public static TheoryData<string> CaseNames => new(RankingCase.Names);

    private static SlotCounts ProductionCounts(RawLayerBatch[] layers, long slotCount, bool includePadding)
    {
        using var scope = torch.NewDisposeScope();
        return SlotCounts.FromAccesses(layers.Select(l => l.ToTensors()).ToList(), slotCount, includePadding);
    }

    private static BackgroundStats ProductionBackground(RankingCase c)
    {
        var stats = new BackgroundStats(c.SlotCount, "fp", c.IncludePadding ? PadPolicy.IncludePadding : PadPolicy.ExcludePadding);
        foreach (var batch in c.Background)
        {
            stats.Accumulate(ProductionCounts(batch, c.SlotCount, c.IncludePadding));
        }

        return stats;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Counts_and_background_match_reference_exactly(string name)
    {
        var c = RankingCase.Build(name);
        var counts = ProductionCounts(c.Batch, c.SlotCount, c.IncludePadding);
        Assert.Equal(SlowReference.Counts(c.Batch, c.SlotCount, c.IncludePadding), counts.Counts);

        var bg = ProductionBackground(c);
        var (df, total) = SlowReference.Background(c.Background, c.SlotCount, c.IncludePadding);
        Assert.Equal(c.Background.Length, bg.NumBatches);
        Assert.True(df.AsSpan().SequenceEqual(bg.DocumentFrequency), "df differs");
        Assert.True(total.AsSpan().SequenceEqual(bg.TotalCounts), "background totals differ");
    }

    /// <summary>
    /// The slow reference of every registered ranker, by registry name: it checks a production selection of case
    /// <c>c</c> (counts computed by <see cref="SlowReference.Counts"/>). A ranker registered in
    /// <see cref="SlotRankers.Registry"/> without an entry here fails <see cref="Every_registered_ranker_matches_its_slow_reference"/>.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, Action<RankingCase, long[], SlotSelection>> References =
        new Dictionary<string, Action<RankingCase, long[], SlotSelection>>
        {
            [TfIdfRanker.Spec.Name] = (c, counts, sel) =>
            {
                AssertSelection(SlowReference.TfIdfScores(counts, SlowReference.Background(c.Background, c.SlotCount, c.IncludePadding).Df, c.Background.Length), c.TopT, sel);
                Assert.Equal(sel.Scores.Count(x => x == 0), sel.ZeroScoreSelected);
            },
            [TfOnlyRanker.Spec.Name] = (c, counts, sel) => AssertSelection(SlowReference.TfScores(counts), c.TopT, sel),
            [KlRanker.Spec.Name] = (c, counts, sel) =>
                AssertSelection(SlowReference.KlScores(counts, SlowReference.Background(c.Background, c.SlotCount, c.IncludePadding).Total), c.TopT, sel),
            // every read slot whatever t, ordered as TF-only ranks them
            [AllAccessedRanker.Spec.Name] = (c, counts, sel) =>
                AssertSelection(SlowReference.TfScores(counts), counts.Count(x => x > 0), sel),
            // the draw is seeded, not ranked: a uniform subset of min(t, #read) distinct read slots, tf as the score
            [RandomRanker.Spec.Name] = (c, counts, sel) =>
            {
                var tf = SlowReference.TfScores(counts);
                Assert.Equal(tf.Count, sel.CandidateCount);
                Assert.Equal(Math.Min(c.TopT, tf.Count), sel.Count);
                Assert.Equal(sel.Count, sel.SlotIds.Distinct().Count());
                for (int i = 0; i < sel.Count; i++)
                {
                    Assert.True(tf.TryGetValue(sel.SlotIds[i], out double e), $"selected slot {sel.SlotIds[i]} was not read");
                    Assert.Equal(e, sel.Scores[i], 12);
                }
            },
        };

    public static TheoryData<string, string> RegisteredRankerCases()
    {
        var d = new TheoryData<string, string>();
        foreach (string ranker in SlotRankers.Registry.Names)
            foreach (string c in RankingCase.Names) d.Add(ranker, c);
        return d;
    }

    /// <summary>Every ranker of the registry, built by its factory, against its slow reference on every case.</summary>
    [Theory]
    [MemberData(nameof(RegisteredRankerCases))]
    public void Every_registered_ranker_matches_its_slow_reference(string ranker, string name)
    {
        Assert.True(References.TryGetValue(ranker, out var reference),
            $"ranker \"{ranker}\" is registered in SlotRankers.Registry but has no slow reference; add one to RankerReferenceTests.References (docs/testing.md#reference-implementations)");
        var c = RankingCase.Build(name);
        var counts = SlowReference.Counts(c.Batch, c.SlotCount, c.IncludePadding);
        var spec = SlotRankers.Registry.Get(ranker, "ranker");
        var background = ProductionBackground(c);
        var instance = SlotRankers.Create(ranker, c.TopT, background, new RankerSettings(Seed: 5));
        Assert.Equal(spec.Name, instance.Name);                                     // one spelling: the instance reports the registry's name
        var selection = instance.Select(ProductionCounts(c.Batch, c.SlotCount, c.IncludePadding).Counts, background, c.TopT);
        Assert.Equal(spec.Name, selection.Ranker);
        reference(c, counts, selection);
    }

    [Fact]
    public void ExcludeZeroIdf_never_selects_zero_scores_and_reports_them()
    {
        var c = RankingCase.Build("df-equals-B");
        var counts = SlowReference.Counts(c.Batch, c.SlotCount, false);
        var bg = ProductionBackground(c);

        var faithful = new TfIdfRanker().Select(counts, bg, c.TopT);
        Assert.Equal(c.TopT, faithful.Count);
        Assert.Equal(c.TopT - 3, faithful.ZeroScoreSelected);
        Assert.Equal([50L, 51L, 52L], faithful.SlotIds.Take(3).Order().ToArray());

        var strict = new TfIdfRanker(excludeZeroIdf: true).Select(counts, bg, c.TopT);
        Assert.Equal([50L, 51L, 52L], strict.SlotIds.Order().ToArray());
        Assert.Equal(0, strict.ZeroScoreSelected);
        Assert.Equal(faithful.CandidateCount - 3, strict.ExcludedZeroScore);
        Assert.Equal(faithful.CandidateCount, strict.CandidateCount);
    }

    [Fact]
    public void Massive_ties_break_by_slot_id()
    {
        var c = RankingCase.Build("equal-counts-df-zero");
        var counts = SlowReference.Counts(c.Batch, c.SlotCount, false);
        var selection = new TfIdfRanker().Select(counts, ProductionBackground(c), c.TopT);
        Assert.Equal(Enumerable.Range(100, 10).Select(i => (long)i).ToArray(), selection.SlotIds);
    }

    [Fact]
    public void Changing_ids_at_pad_positions_changes_nothing()
    {
        var c = RankingCase.Build("zipf");
        var rng = new Random(7);
        var altered = c.Batch.Select(l =>
        {
            var ids = (long[])l.Ids.Clone();
            for (int pos = 0; pos < l.B * l.T; pos++)
            {
                if (!l.Valid[pos])
                {
                    for (int j = 0; j < l.HK; j++)
                    {
                        ids[(pos * l.HK) + j] = rng.NextInt64(c.SlotCount);
                    }
                }
            }

            return l with { Ids = ids };
        }).ToArray();
        Assert.Contains(c.Batch[0].Valid, v => !v);

        var before = ProductionCounts(c.Batch, c.SlotCount, false);
        var after = ProductionCounts(altered, c.SlotCount, false);
        Assert.Equal(before.Counts, after.Counts);
        Assert.NotEqual(ProductionCounts(c.Batch, c.SlotCount, true).Counts, ProductionCounts(altered, c.SlotCount, true).Counts);

        var bg = ProductionBackground(c);
        Assert.Equal(new TfIdfRanker().Select(before.Counts, bg, 30).SlotIds, new TfIdfRanker().Select(after.Counts, bg, 30).SlotIds);
    }

    [Fact]
    public void Several_heads_of_one_token_count_each_time()
    {
        var layer = new RawLayerBatch(1, 1, 4, [3, 3, 3, 5], [true]);
        var counts = ProductionCounts([layer, layer], 8, false);
        Assert.Equal(6, counts.Counts[3]);
        Assert.Equal(2, counts.Counts[5]);
        Assert.Equal(8, counts.TotalAccesses);
        Assert.Equal(2, counts.ReadSlotCount);
    }

    [Fact]
    public void Out_of_range_ids_and_bad_shapes_are_rejected()
    {
        var bad = new RawLayerBatch(1, 1, 2, [0, 8], [true]);
        Assert.Throws<ArgumentOutOfRangeException>(() => ProductionCounts([bad], 8, false));
        using var ids = torch.zeros(2, 3, dtype: torch.int64);
        using var mask = torch.ones(2, 3, dtype: torch.@bool);
        Assert.Throws<ArgumentException>(() => SlotCounts.FromAccesses([(ids, mask)], 8));
    }

    [Fact]
    public void Random_is_a_seeded_reproducible_subset_of_read_slots()
    {
        var c = RankingCase.Build("zipf");
        var counts = SlowReference.Counts(c.Batch, c.SlotCount, false);
        var read = Enumerable.Range(0, counts.Length).Where(i => counts[i] > 0).Select(i => (long)i).ToHashSet();

        var a = new RandomRanker(seed: 42).Select(counts, null, 20);
        var b = new RandomRanker(seed: 42).Select(counts, null, 20);
        Assert.Equal(a.SlotIds, b.SlotIds);
        Assert.Equal(20, a.Count);
        Assert.Equal(20, a.SlotIds.Distinct().Count());
        Assert.All(a.SlotIds, id => Assert.Contains(id, read));

        var ranker = new RandomRanker(seed: 42);
        var step0 = ranker.Select(counts, null, 20);
        var step1 = ranker.Select(counts, null, 20);
        Assert.Equal(a.SlotIds, step0.SlotIds);
        Assert.NotEqual(step0.SlotIds, step1.SlotIds);
        Assert.Equal(step1.SlotIds, new RandomRanker(seed: 42).SelectAtStep(counts, 20, 1).SlotIds);
        Assert.NotEqual(a.SlotIds, new RandomRanker(seed: 43).Select(counts, null, 20).SlotIds);

        var all = new RandomRanker(seed: 1).Select(counts, null, 1_000_000);
        Assert.Equal(read.Order().ToArray(), all.SlotIds.Order().ToArray());
    }

    [Fact]
    public void AllAccessed_returns_every_read_slot_whatever_t()
    {
        var c = RankingCase.Build("zipf");
        var counts = SlowReference.Counts(c.Batch, c.SlotCount, false);
        var read = Enumerable.Range(0, counts.Length).Where(i => counts[i] > 0).Select(i => (long)i).ToArray();
        var selection = new AllAccessedRanker().Select(counts, null, 1);
        Assert.Equal(read, selection.SlotIds.Order().ToArray());
        Assert.Equal(read.Length, selection.CandidateCount);
    }

    [Fact]
    public void Invalid_t_and_missing_background_give_clear_errors()
    {
        var counts = new long[] { 0, 2, 1 };
        var bg = new BackgroundStats(3, "fp");
        foreach (var kind in SlotRankers.Registry.Names)
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => SlotRankers.Create(kind, 0, bg));
            Assert.Contains("at least 1", e.Message, StringComparison.Ordinal);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => new TfIdfRanker().Select(counts, bg, -1));
        var missing = Assert.Throws<ArgumentException>(() => SlotRankers.Create("tf_idf", 5, null));
        Assert.Contains("smf background", missing.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => SlotRankers.Create("kl", 5, null));
        Assert.Throws<ArgumentException>(() => new KlRanker().Select(counts, null, 5));
        Assert.Throws<ArgumentException>(() => new TfIdfRanker().Select(counts, new BackgroundStats(4, "fp"), 5));
        Assert.IsType<TfOnlyRanker>(SlotRankers.Create("tf-only", 5, null));
        Assert.IsType<RandomRanker>(SlotRankers.Create("random", 5, null, new RankerSettings(Seed: 3)));
        Assert.IsType<AllAccessedRanker>(SlotRankers.Create("All-Accessed", 5, null));          // case and '-' for '_' do not matter
        foreach (string other in new[] { "tf_idfx", "tfidf", "tf", "all", "AllAccessed" })      // one spelling: no squashed or short forms
        {
            var unknown = Assert.Throws<ConfigException>(() => SlotRankers.Create(other, 5, bg));
            Assert.Contains("tf_idf, tf_only", unknown.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>Scores to 1e-12 relative, the tie-aware rules of docs/testing.md#tie-aware-comparison, then exact equality (deterministic tie-break).</summary>
    private static void AssertSelection(Dictionary<long, double> expectedScores, int t, SlotSelection actual)
    {
        Assert.Equal(expectedScores.Count, actual.CandidateCount);
        Assert.Equal(Math.Min(t, expectedScores.Count), actual.Count);
        for (int i = 0; i < actual.Count; i++)
        {
            Assert.True(expectedScores.TryGetValue(actual.SlotIds[i], out double e), $"selected slot {actual.SlotIds[i]} was not read");
            Assert.True(Math.Abs(actual.Scores[i] - e) <= 1e-12 * Math.Max(Math.Abs(e), 1e-300), $"slot {actual.SlotIds[i]}: score {actual.Scores[i]:R} vs reference {e:R}");
        }

        if (actual.Count > 0)
        {
            const double eps = 1e-12;
            double st = actual.Scores.Min();
            var selected = actual.SlotIds.ToHashSet();
            Assert.All(actual.SlotIds, id => Assert.True(expectedScores[id] >= st - (eps * Math.Abs(st)) - 1e-300));
            Assert.All(expectedScores.Where(kv => !selected.Contains(kv.Key)), kv => Assert.True(kv.Value <= st + (eps * Math.Abs(st)) + 1e-300, $"unselected slot {kv.Key} scores {kv.Value:R} > s_t {st:R}"));
        }

        Assert.Equal(SlowReference.TopT(expectedScores, t), actual.SlotIds);
    }
}
