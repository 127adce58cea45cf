using SparseMemory.Checkpoints;
using SparseMemory.DataBuild.Facts;
using SparseMemory.Data.Facts;
using SparseMemory.Tests.Benchmarks;
using Xunit;
using R = SparseMemory.DataBuild.Facts.RelationTemplates;

namespace SparseMemory.Tests.Facts;

/// <summary>Cleaning, the known/new split, and the committed embedded sets.</summary>
public sealed class FactSplitTests
{
    private static List<FactCandidate> Synthetic()
    {
        var list = new List<FactCandidate>();
        for (int i = 0; i < 60; i++) list.Add(new(R.CountryCapital, $"Country{i}", $"City{i}", [], $"c:{i}"));
        for (int i = 0; i < 30; i++) list.Add(new(R.Continent, $"Country{i}", i % 2 == 0 ? "Asia" : "Europe", [], $"k:{i}"));
        for (int i = 0; i < 20; i++) list.Add(new(R.DivisionCapital, $"Region{i}", $"Town{i}", [], $"d:{i}", "Land"));
        return list;
    }

    [Fact]
    public void Should_build_identical_sets_and_bytes_twice_from_the_same_input()
    {
        var options = new FactSplitOptions(Seed: 5, MaxPerRelation: 40, NewCount: 30);
        var a = FactSplit.Split(FactSetBuilder.Clean(Synthetic()), options);
        var b = FactSplit.Split(FactSetBuilder.Clean(Synthetic()), options);
        Assert.Equal(a.Known.Select(f => f.Id), b.Known.Select(f => f.Id));
        Assert.Equal(a.New.Select(f => f.Id), b.New.Select(f => f.Id));
        using var tmp = new TempFolder();
        string p1 = Path.Combine(tmp.Path, "a.jsonl.gz"), p2 = Path.Combine(tmp.Path, "b.jsonl.gz");
        DataFiles.WriteFacts(p1, a.Known);
        DataFiles.WriteFacts(p2, b.Known);
        Assert.Equal(File.ReadAllBytes(p1), File.ReadAllBytes(p2));
        var c = FactSplit.Split(FactSetBuilder.Clean(Synthetic()), options with { Seed = 6 });
        Assert.NotEqual(a.New.Select(f => f.Id), c.New.Select(f => f.Id));
    }

    [Fact]
    public void Should_cap_relations_and_split_them_in_proportion()
    {
        var (known, fresh) = FactSplit.Split(FactSetBuilder.Clean(Synthetic()), new FactSplitOptions(Seed: 1, MaxPerRelation: 40, NewCount: 30));
        var all = known.Concat(fresh).ToList();
        Assert.Equal(40, all.Count(f => f.Relation == R.CountryCapital));
        Assert.Equal(30, all.Count(f => f.Relation == R.Continent));
        Assert.Equal(20, all.Count(f => f.Relation == R.DivisionCapital));
        Assert.InRange(fresh.Count, 28, 32);
        Assert.Empty(known.Select(f => f.Id).Intersect(fresh.Select(f => f.Id)));
        Assert.Equal(known.Select(f => f.Id).Order(StringComparer.Ordinal), known.Select(f => f.Id));
    }

    [Fact]
    public void Should_reject_new_facts_whose_subject_and_object_appear_together_in_known_statements()
    {
        // "Tokyo is in Japan" (known) would leak the new fact "capital of Japan = Tokyo".
        var facts = FactSetBuilder.Clean([
            new(R.SubdivisionCountry, "Tokyo", "Japan", [], "a", "prefecture"),
            new(R.CountryCapital, "Japan", "Tokyo", [], "b"),
        ]);
        for (int seed = 0; seed < 8; seed++)
        {
            var (known, fresh) = FactSplit.Split(facts, new FactSplitOptions(seed, 10, NewCount: 1));
            foreach (var f in fresh)
                Assert.False(FactSplit.MentionedTogether(known.SelectMany(k => k.Statements).Select(s => s.ToLowerInvariant()), f.Subject, f.Object));
        }
        Assert.True(FactSplit.MentionedTogether(["tokyo is in japan."], "Japan", "Tokyo"));
        Assert.False(FactSplit.MentionedTogether(["tokyoite in japan."], "Japan", "Tokyo"));
    }

    [Fact]
    public void Should_drop_ambiguous_pairs_and_colliding_questions_and_merge_agreeing_sources()
    {
        var facts = FactSetBuilder.Clean([
            new(R.CountryCapital, "Ghana", "Accra", [], "a:1"),
            new(R.CountryCapital, "Ghana", " accra ", ["Akra"], "b:1"),
            new(R.CountryCapital, "Algeria", "Alger", [], "a:2"),
            new(R.CountryCapital, "Algeria", "Algiers", [], "b:2"),
            new(R.CountryCapital, "Georgia", "Tbilisi", [], "a:3"),
            new(R.DivisionCapital, "Georgia", "Atlanta", [], "c:3"),
            new(R.CountryCapital, "Far  Away", "A very long answer here", [], "a:4"),
            new(R.DivisionCapital, "Aomori", "Aomori", [], "c:4"),
        ]);
        var f = Assert.Single(facts);
        Assert.Equal(("Ghana", "Accra", "a:1"), (f.Subject, f.Object, f.Source));
        Assert.Equal(["Accra", "Akra"], f.Aliases);
    }

    [Fact]
    public void Embedded_known_and_new_sets_should_be_disjoint_and_well_formed()
    {
        var known = FactsFile.ReadEmbedded("known");
        var fresh = FactsFile.ReadEmbedded("new");
        Assert.InRange(known.Count, 2000, 3000);
        Assert.InRange(fresh.Count, 900, 1100);
        Assert.Empty(known.Select(f => f.Id).Intersect(fresh.Select(f => f.Id)));
        Assert.Empty(known.Select(f => (f.Subject, f.Relation)).Intersect(fresh.Select(f => (f.Subject, f.Relation))));
        Assert.Empty(known.Select(f => f.Question.ToLowerInvariant()).Intersect(fresh.Select(f => f.Question.ToLowerInvariant())));
        foreach (var f in known.Concat(fresh))
        {
            Assert.Equal(f.Object, f.Aliases[0]);
            Assert.InRange(FactText.WordCount(f.Object), 1, FactSetBuilder.MaxObjectWords);
            Assert.True(f.Statements.Count >= 4, f.Id);
            Assert.Equal(FactText.Normalize(f.Subject), f.Subject);
        }
        var knownText = known.Select(k => string.Join(" \n ", k.Statements).ToLowerInvariant()).ToArray();
        Assert.All(fresh, f => Assert.False(FactSplit.MentionedTogether(knownText, f.Subject, f.Object), f.Id));
        int relations = known.Select(f => f.Relation).Distinct().Count();
        Assert.True(relations >= 10, $"{relations} relations");
        Assert.All(known.GroupBy(f => f.Relation), g => Assert.True(g.Count() <= new FactSplitOptions().MaxPerRelation));
    }
}
