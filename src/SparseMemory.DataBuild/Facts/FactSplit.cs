using SparseMemory.Data;
using SparseMemory.Data.Facts;
namespace SparseMemory.DataBuild.Facts;

/// <summary>Sizes of the known/new split.</summary>
/// <param name="Seed">Seeds the per-relation shuffles.</param>
/// <param name="MaxPerRelation">Most facts drawn from one relation (known and new together), so no relation dominates.</param>
/// <param name="NewCount">Target number of new facts, spread over relations in proportion to their drawn sizes.</param>
public sealed record FactSplitOptions(int Seed = 1234, int MaxPerRelation = 400, int NewCount = 1000);

/// <summary>
/// Splits facts into <b>known</b> facts (mixed into pretraining) and <b>new</b> facts (never in pretraining; the stream
/// to learn). Deterministic: facts are ordered by id, each relation is shuffled with one seeded <see cref="Random"/>
/// (relations in ordinal order) and capped. The sets are disjoint by id and by (subject, relation), and a new fact is
/// rejected when any known statement mentions both its subject and its object (the next candidate of the relation
/// takes its place). Both lists come back sorted by id.
/// </summary>
public static class FactSplit
{
    /// <summary>Splits <paramref name="facts"/> (ids must be unique).</summary>
    public static (IReadOnlyList<Fact> Known, IReadOnlyList<Fact> New) Split(IReadOnlyList<Fact> facts, FactSplitOptions options)
    {
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxPerRelation <= 0 || options.NewCount < 0) throw new ArgumentException("max_per_relation must be positive and new_count ≥ 0", nameof(options));
        var rng = new Random(options.Seed);
        var byRelation = facts.OrderBy(f => f.Id, StringComparer.Ordinal).GroupBy(f => f.Relation, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => { var list = g.ToArray(); rng.Shuffle(list); return list; })
            .ToArray();
        int drawn = byRelation.Sum(r => Math.Min(r.Length, options.MaxPerRelation));
        var known = new List<Fact>();
        var reserves = new List<(int Quota, ArraySegment<Fact> Candidates)>();
        foreach (var relation in byRelation)
        {
            int take = Math.Min(relation.Length, options.MaxPerRelation);
            int quota = drawn == 0 ? 0 : Math.Min(take, (int)Math.Round((double)take * options.NewCount / drawn, MidpointRounding.AwayFromZero));
            known.AddRange(relation.Take(take - quota));
            reserves.Add((quota, new ArraySegment<Fact>(relation, take - quota, relation.Length - (take - quota))));
        }
        var knownText = known.Select(f => string.Join(" \n ", f.Statements).ToLowerInvariant()).ToArray();
        var fresh = new List<Fact>();
        foreach (var (quota, candidates) in reserves)
        {
            int accepted = 0;
            foreach (var f in candidates)
            {
                if (accepted == quota) break;
                if (MentionedTogether(knownText, f.Subject, f.Object)) continue;
                fresh.Add(f);
                accepted++;
            }
        }
        return (known.OrderBy(f => f.Id, StringComparer.Ordinal).ToArray(), fresh.OrderBy(f => f.Id, StringComparer.Ordinal).ToArray());
    }

    /// <summary>True when some text contains both <paramref name="subject"/> and <paramref name="obj"/> as whole words (case-insensitive).</summary>
    public static bool MentionedTogether(IEnumerable<string> lowerTexts, string subject, string obj)
    {
        string s = subject.ToLowerInvariant(), o = obj.ToLowerInvariant();
        foreach (var text in lowerTexts)
            if (ContainsWord(text, s) && ContainsWord(text, o)) return true;
        return false;
    }

    private static bool ContainsWord(string text, string word)
    {
        for (int at = text.IndexOf(word, StringComparison.Ordinal); at >= 0; at = text.IndexOf(word, at + 1, StringComparison.Ordinal))
        {
            bool before = at == 0 || !char.IsLetterOrDigit(text[at - 1]);
            int end = at + word.Length;
            bool after = end == text.Length || !char.IsLetterOrDigit(text[end]);
            if (before && after) return true;
        }
        return false;
    }
}
