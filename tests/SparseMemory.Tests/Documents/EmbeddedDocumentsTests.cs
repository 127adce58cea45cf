using SparseMemory.Data.Documents;
using SparseMemory.Data.Facts;
using Xunit;

namespace SparseMemory.Tests.Documents;

public sealed class EmbeddedDocumentsTests
{
    [Fact]
    public void Every_new_fact_is_stated_in_its_article_and_asked_once()
    {
        var set = EmbeddedDocuments.New;
        var facts = FactsFile.ReadEmbedded("new");
        Assert.Equal(facts.Count, set.Questions.Count);
        Assert.Equal(facts.Select(f => f.Id).Order(), set.Questions.Select(q => q.Fact.Id).Order());
        var byId = set.Documents.ToDictionary(d => d.Id);
        foreach (var q in set.Questions)
        {
            var doc = byId[q.DocumentId!];
            Assert.Contains(q.Fact.Statements, s => doc.Text.Contains(s, StringComparison.Ordinal));
        }
        // Some articles are about one entity with several facts, the rest group single facts.
        Assert.Contains(set.Questions.GroupBy(q => q.DocumentId), g => g.Select(q => q.Fact.Subject).Distinct().Count() == 1 && g.Count() > 1);
        Assert.All(set.Questions.GroupBy(q => q.DocumentId), g => Assert.InRange(g.Count(), 1, EmbeddedDocuments.FactsPerArticle + 3));
    }

    [Fact]
    public void No_document_contains_a_question_verbatim()
    {
        var set = EmbeddedDocuments.New;
        var leaks = QuestionLeak.Find(set.Documents.SelectMany(d => TextUnits.Paragraphs(d.Text)), set.Questions.Select(q => q.Fact.Question)).ToList();
        Assert.True(leaks.Count == 0, string.Join("\n", leaks.Take(5)));
    }

    [Fact]
    public void The_check_catches_a_document_that_states_its_question()
    {
        var fact = FactsFile.ReadEmbedded("new")[0];
        var leaking = fact with { Statements = [$"{fact.Question} {fact.Object}.", fact.Statement] };
        var set = EmbeddedDocuments.Build([leaking]);
        // The builder never picks the leaking statement…
        Assert.Empty(QuestionLeak.Find(set.Documents.Select(d => d.Text), [fact.Question]));
        // …which the same check would have caught.
        Assert.NotEmpty(QuestionLeak.Find([leaking.Statements[0]], [fact.Question]));
    }

    [Fact]
    public void The_set_is_deterministic_and_a_limit_keeps_the_questions_of_the_kept_documents()
    {
        Assert.Equal(EmbeddedDocuments.New.Documents, EmbeddedDocuments.Build(FactsFile.ReadEmbedded("new")).Documents);
        var limited = DocumentSources.Load(EmbeddedDocuments.Name, null, 5);
        Assert.Equal(5, limited.Documents.Count);
        var ids = limited.Documents.Select(d => d.Id).ToHashSet();
        Assert.NotEmpty(limited.Questions);
        Assert.All(limited.Questions, q => Assert.Contains(q.DocumentId!, ids));
        Assert.Equal(EmbeddedDocuments.New.Questions.Count(q => ids.Contains(q.DocumentId!)), limited.Questions.Count);
    }
}
