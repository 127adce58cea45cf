using SparseMemory.Data.Documents.Augmentations;
using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents;

/// <summary>Settings of <see cref="DocumentLesson.Plan"/>.</summary>
/// <param name="ChunkTokens">Most tokens per chunk (at most the model's max_seq_len − 1).</param>
/// <param name="LinesPerStep">Augmented lines per batch.</param>
/// <param name="StepsPerChunk">Optimizer steps per chunk.</param>
/// <param name="Seed">Seed of the draws.</param>
/// <param name="MaxLen">The model's max_seq_len (lines are cut to it, as in the fact stream).</param>
/// <param name="Strategies">Strategy names (<see cref="Augmentations.Augmentations.Registry"/>); null = all.</param>
/// <param name="HeldOutQuestions">Questions no line may contain (<see cref="QuestionLeak"/>).</param>
public sealed record DocumentLessonOptions(int ChunkTokens, int LinesPerStep, int StepsPerChunk, int Seed, int MaxLen,
    IReadOnlyList<string>? Strategies = null, IReadOnlyList<string>? HeldOutQuestions = null);

/// <summary>
/// One document as a lesson for a single learn (the service's <c>POST /learn {"document": …}</c>, docs/documents.md#the-service):
/// the document checked (<see cref="DocumentReader.FromText"/>: empty, NUL, over <see cref="DocumentReader.MaxDocumentBytes"/>),
/// cut into chunks, and every step's batch, chunk after chunk, <see cref="DocumentLessonOptions.StepsPerChunk"/> steps each —
/// the same stream <c>smf finetune --task documents</c> trains on. The caller runs <see cref="Steps"/> training steps on
/// <see cref="Batch"/> and journals them as one entry.
/// </summary>
public sealed class DocumentLesson
{
    readonly DocumentStream _stream;

    DocumentLesson(Document document, DocumentStream stream)
    {
        Document = document;
        _stream = stream;
    }

    /// <summary>The document, as checked.</summary>
    public Document Document { get; }

    /// <summary>Its chunks, in order.</summary>
    public IReadOnlyList<Chunk> Chunks => _stream.Chunks;

    /// <summary>Training steps of the lesson: chunks × steps per chunk.</summary>
    public int Steps => _stream.Chunks.Count * _stream.StepsPerItem;

    /// <summary>The chunk of step <paramref name="step"/>.</summary>
    public Chunk ChunkAt(int step) => _stream.ChunkAt(step);

    /// <summary>The lines of step <paramref name="step"/>, each with its strategy.</summary>
    public IReadOnlyList<TrainingLine> Lines(int step) => _stream.Lines(step);

    /// <summary>The padded batch of step <paramref name="step"/> (the caller disposes its tensors).</summary>
    public TrainingBatch Batch(int step) => _stream.Get(step);

    /// <summary>Plans the lesson for <paramref name="text"/>.</summary>
    /// <exception cref="InvalidDataException">The document is empty, holds a NUL character or is over the size limit (one line naming <paramref name="source"/>).</exception>
    /// <exception cref="ArgumentException">An option is out of range or names an unknown strategy.</exception>
    public static DocumentLesson Plan(string text, ITokenizer tokenizer, DocumentLessonOptions options, string source = "document")
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ChunkTokens < 1 || options.ChunkTokens > options.MaxLen - 1)
            throw new ArgumentException($"chunk tokens must be between 1 and {options.MaxLen - 1} (max_seq_len − 1), got {options.ChunkTokens}");
        var names = options.Strategies ?? [.. Augmentations.Augmentations.Registry.Names];
        if (Augmentations.Augmentations.Problems(names, "strategies") is { Count: > 0 } problems) throw new ArgumentException(string.Join("; ", problems));
        var document = DocumentReader.FromText(text, source, source);
        var chunks = DocumentChunker.Split(document, tokenizer, options.ChunkTokens);
        var stream = new DocumentStream(chunks, tokenizer, Augmentations.Augmentations.Resolve(names), options.LinesPerStep, options.StepsPerChunk,
            options.Seed, options.MaxLen, options.HeldOutQuestions);
        return new DocumentLesson(document, stream);
    }
}
