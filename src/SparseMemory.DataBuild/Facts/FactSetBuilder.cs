using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Checkpoints;
namespace SparseMemory.DataBuild.Facts;

/// <summary>
/// <c>smf data build-facts</c>: reads every package (<see cref="PackageFacts.ReadAll"/>), cleans and de-duplicates the
/// candidates (<see cref="Clean"/>), renders them with <see cref="RelationTemplates"/> and splits them
/// (<see cref="FactSplit"/>) into <c>known.jsonl.gz</c> and <c>new.jsonl.gz</c>.
/// </summary>
public static class FactSetBuilder
{
    /// <summary>Longest answer, in words.</summary>
    public const int MaxObjectWords = 3;

    /// <summary>Longest subject, in characters.</summary>
    public const int MaxSubjectChars = 120;

    /// <summary>
    /// Candidates → facts: whitespace normalised; answers of 1–<see cref="MaxObjectWords"/> words; a subject equal to its
    /// object dropped (trivial); candidates with the same id merged when their objects agree (ignoring case; aliases
    /// united, first source kept) and dropped when they disagree (ambiguous); facts whose question text collides with
    /// another fact's question with a different answer are dropped too. Returned in first-seen order.
    /// </summary>
    public static IReadOnlyList<Fact> Clean(IEnumerable<FactCandidate> candidates)
    {
        var groups = new Dictionary<string, List<FactCandidate>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var raw in candidates)
        {
            var c = raw with
            {
                Subject = FactText.Normalize(raw.Subject),
                Object = FactText.Normalize(raw.Object),
                Aliases = raw.Aliases.Select(FactText.Normalize).Where(a => a.Length > 0).ToArray(),
            };
            if (c.Subject.Length == 0 || c.Subject.Length > MaxSubjectChars || FactText.Slug(c.Subject).Length == 0) continue;
            if (FactText.WordCount(c.Object) is 0 or > MaxObjectWords) continue;
            if (string.Equals(c.Subject, c.Object, StringComparison.OrdinalIgnoreCase)) continue;
            string id = RelationTemplates.Id(c.Relation, c.Subject);
            if (!groups.TryGetValue(id, out var list)) { groups[id] = list = []; order.Add(id); }
            list.Add(c);
        }
        var facts = new List<Fact>();
        foreach (var id in order)
        {
            var list = groups[id];
            if (list.Any(c => !string.Equals(c.Object, list[0].Object, StringComparison.OrdinalIgnoreCase))) continue;
            var merged = list[0] with { Aliases = list.SelectMany(c => c.Aliases).Distinct(StringComparer.OrdinalIgnoreCase).ToArray() };
            facts.Add(RelationTemplates.ToFact(merged));
        }
        var byQuestion = facts.GroupBy(f => f.Question, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.OrdinalIgnoreCase);
        var result = new List<Fact>();
        var taken = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var f in facts)
        {
            var same = byQuestion[f.Question];
            if (same.Any(g => !string.Equals(g.Object, f.Object, StringComparison.OrdinalIgnoreCase))) continue;
            if (taken.Add(f.Question)) result.Add(f);
        }
        return result;
    }

    /// <summary>Reads, cleans and splits the packages under <paramref name="rawDir"/> (no files written).</summary>
    public static (IReadOnlyList<Fact> Known, IReadOnlyList<Fact> New) BuildSets(string rawDir, FactSplitOptions options) =>
        FactSplit.Split(Clean(PackageFacts.ReadAll(rawDir)), options);

    /// <summary>Builds the sets and writes <c>known.jsonl.gz</c> and <c>new.jsonl.gz</c> into <paramref name="outDir"/>; reports per-relation counts.</summary>
    public static (IReadOnlyList<Fact> Known, IReadOnlyList<Fact> New) Build(string rawDir, string outDir, FactSplitOptions options, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var (known, fresh) = BuildSets(rawDir, options);
        Directory.CreateDirectory(outDir);
        DataFiles.WriteFacts(Path.Combine(outDir, "known.jsonl.gz"), known);
        DataFiles.WriteFacts(Path.Combine(outDir, "new.jsonl.gz"), fresh);
        log.WriteLine($"{"relation",-22} {"known",6} {"new",6}");
        foreach (var relation in RelationTemplates.Names)
            log.WriteLine($"{relation,-22} {known.Count(f => f.Relation == relation),6} {fresh.Count(f => f.Relation == relation),6}");
        log.WriteLine($"{"total",-22} {known.Count,6} {fresh.Count,6}");
        log.WriteLine($"wrote {Path.Combine(outDir, "known.jsonl.gz")} and {Path.Combine(outDir, "new.jsonl.gz")}");
        return (known, fresh);
    }
}
