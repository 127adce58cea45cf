using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents;

/// <summary>A question about a document set, in the fact form the QA probes read; <paramref name="DocumentId"/> names the document that answers it, when known.</summary>
public sealed record DocumentQuestion(Fact Fact, string? DocumentId);

/// <summary>Documents and the questions asked about them.</summary>
public sealed record DocumentSet(IReadOnlyList<Document> Documents, IReadOnlyList<DocumentQuestion> Questions);

/// <summary>
/// The embedded document set (docs/documents.md#the-embedded-set), built in code from the embedded new facts
/// (<c>data/facts/new.jsonl.gz</c>, data/SOURCES.md), so it needs no file of its own and never drifts from them. An
/// entity with several new facts gets its own article; the other facts are grouped by relation, <see cref="FactsPerArticle"/>
/// to an article. Each fact is stated once, in one of its statement templates chosen with a fixed seed (never one that
/// contains its question), in running prose with distractor sentences that name an entity of the article but state no
/// fact. The questions are the facts' own questions — the relation's question template, which no document contains
/// (checked by a test) — so answering needs the fact, not the sentence's wording. Articles are in a seeded order that
/// mixes the relations.
/// </summary>
public static class EmbeddedDocuments
{
    /// <summary>The name of the embedded set (<c>data.documents=new</c>, the default).</summary>
    public const string Name = "new";

    /// <summary>Seed of the statement choice, distractors and article order (fixed: the set is part of the package).</summary>
    public const int Seed = 1234;

    /// <summary>Facts per article for entities with a single new fact.</summary>
    public const int FactsPerArticle = 4;

    /// <summary>Sentences per paragraph.</summary>
    public const int SentencesPerParagraph = 3;

    // {0} = an entity of the article. None states a fact: no answer of any relation can be read from them.
    static readonly string[] Distractors =
    [
        "Much has been written about {0}.", "{0} appears in many reference works.", "Records about {0} are kept in public archives.",
        "Visitors often ask about {0}.", "{0} is mentioned in several encyclopedias.", "Guides describe {0} in some detail.",
        "Readers may know {0} from school.", "Older sources spell {0} in different ways.",
    ];

    static readonly Lazy<DocumentSet> Embedded = new(() => Build(FactsFile.ReadEmbedded("new")));

    /// <summary>The embedded set built from the embedded new facts.</summary>
    public static DocumentSet New => Embedded.Value;

    /// <summary>The article set for <paramref name="facts"/> (deterministic: the same facts give the same set).</summary>
    public static DocumentSet Build(IReadOnlyList<Fact> facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        var random = new Random(Seed);
        var groups = new List<(string Title, List<Fact> Facts)>();
        var bySubject = facts.GroupBy(f => f.Subject, StringComparer.Ordinal).ToList();
        foreach (var g in bySubject.Where(g => g.Count() > 1)) groups.Add((g.Key, g.ToList()));
        foreach (var relation in bySubject.Where(g => g.Count() == 1).SelectMany(g => g).GroupBy(f => f.Relation, StringComparer.Ordinal))
        {
            var list = relation.ToArray();
            random.Shuffle(list);
            for (int at = 0; at < list.Length; at += FactsPerArticle)
            {
                var part = list.Skip(at).Take(FactsPerArticle).ToList();
                groups.Add(($"{Topic(relation.Key)}: {string.Join(", ", part.Select(f => f.Subject))}", part));
            }
        }
        var order = groups.ToArray();
        random.Shuffle(order);
        var documents = new List<Document>();
        var questions = new List<DocumentQuestion>();
        for (int i = 0; i < order.Length; i++)
        {
            var (title, group) = order[i];
            string id = $"article-{i + 1:D4}";
            var sentences = new List<string>();
            var shuffled = group.ToArray();
            random.Shuffle(shuffled);
            foreach (var fact in shuffled)
            {
                var usable = fact.Statements.Where(s => !QuestionLeak.Contains(s, fact.Question)).ToList();
                if (usable.Count == 0) continue;
                sentences.Add(usable[random.Next(usable.Count)]);
                if (random.Next(2) == 0) sentences.Add(TextUnits.UpperFirst(string.Format(System.Globalization.CultureInfo.InvariantCulture, Distractors[random.Next(Distractors.Length)], fact.Subject)));
                questions.Add(new DocumentQuestion(fact, id));
            }
            if (sentences.Count == 0) continue;
            var paragraphs = sentences.Chunk(SentencesPerParagraph).Select(p => string.Join(' ', p));
            documents.Add(new Document(id, title, string.Join("\n\n", paragraphs), $"embedded documents {Name}: {id}"));
        }
        return new DocumentSet(documents, questions);
    }

    /// <summary>A relation's name as an article topic ("airport_code" → "Airport code").</summary>
    static string Topic(string relation) => TextUnits.UpperFirst(relation.Replace('_', ' '));
}
