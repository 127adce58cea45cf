using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents;

/// <summary>Resolves the <c>data.documents</c> and <c>data.questions</c> settings into a document set (docs/documents.md).</summary>
public static class DocumentSources
{
    /// <summary>
    /// The documents named by <paramref name="documents"/> (<see cref="EmbeddedDocuments.Name"/> or a file or folder for
    /// <see cref="DocumentReader"/>) and the questions asked about them: <paramref name="questions"/> when given (an embedded
    /// fact set name, a facts JSONL or a TriviaQA-format JSONL with <c>context</c>, <c>answer</c>, <c>aliases</c>), else the
    /// embedded set's own questions (none for a file). With <paramref name="limit"/> &gt; 0 only the first documents are
    /// kept, and with them the questions known to be about them (questions from a file are all kept).
    /// </summary>
    public static DocumentSet Load(string documents, string? questions, int limit)
    {
        var set = documents == EmbeddedDocuments.Name ? EmbeddedDocuments.New : new DocumentSet(DocumentReader.Read(documents), []);
        if (!string.IsNullOrWhiteSpace(questions))
            set = set with { Questions = FactsFile.ReadNamedOrFile(questions).Select(f => new DocumentQuestion(f, null)).ToList() };
        if (limit > 0 && limit < set.Documents.Count)
        {
            var kept = set.Documents.Take(limit).ToList();
            var ids = kept.Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
            set = new DocumentSet(kept, set.Questions.Where(q => q.DocumentId is null || ids.Contains(q.DocumentId)).ToList());
        }
        return set;
    }
}
