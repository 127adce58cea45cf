using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents.Augmentations;

/// <summary>
/// Entity-centred restatements: the subject of a sentence, or a name it mentions, made the topic of a line ("About
/// Ghana: The capital of Ghana is Accra."), and every sentence of the chunk that mentions an entity gathered under it.
/// </summary>
public sealed class EntityTopic : IAugmentation
{
    /// <summary>The registry entry.</summary>
    public static readonly AugmentationSpec Spec = new("entity", "the subject or a named entity of a sentence made the topic of a line", new EntityTopic());

    // {0} = the entity, {1} = the sentence(s), {2} = the same with a lower-cased opener.
    static readonly string[] Templates = ["About {0}: {1}", "On the subject of {0}: {1}", "As for {0}, {2}", "{0}. {1}"];

    /// <inheritdoc/>
    public string TemplateText => string.Join(' ', Templates);

    /// <inheritdoc/>
    public IReadOnlyList<TrainingLine> Lines(Chunk chunk)
    {
        var lines = new List<TrainingLine>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var sentences = chunk.Sentences;
        var names = SentenceParts.Names(sentences);
        var entities = new List<string>();
        for (int i = 0; i < sentences.Count; i++)
        {
            var topics = new List<(string Entity, string How)>();
            if (SentenceParts.Subject(sentences[i]) is { } s) topics.Add((s.Subject, "subject"));
            topics.AddRange(SentenceParts.Spans(sentences[i], names).Where(e => e.Any(char.IsLetter)).Select(e => (e, "name")));
            foreach (var (entity, how) in topics)
            {
                if (!entities.Contains(entity)) entities.Add(entity);
                foreach (var template in Templates)
                    Add(template, entity, sentences[i], $"sentence {i + 1}, its {how} \"{entity}\" as the topic");
            }
        }
        // An entity's sentences gathered under it, when it is mentioned more than once.
        foreach (var entity in entities)
        {
            var about = sentences.Where(x => x.Contains(entity, StringComparison.Ordinal)).ToList();
            if (about.Count > 1) Add(Templates[0], entity, string.Join(' ', about), $"the {about.Count} sentences that mention \"{entity}\"");
        }
        return lines;

        void Add(string template, string entity, string text, string origin)
        {
            var topic = SentenceParts.StripArticle(entity);
            var line = string.Format(System.Globalization.CultureInfo.InvariantCulture, template, topic, text, SentenceParts.LowerOpener(text));
            if (seen.Add(line)) lines.Add(new TrainingLine(line, LineKind.Statement, origin, Spec.Name));
        }
    }
}
