using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Memory;
using SparseMemory.Model;
using SparseMemory.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Finetuning;

/// <summary>
/// <c>smf background</c>: runs the frozen model over |B| random batches of its pretraining text (the paper: 1000
/// random pretraining batches) and records per value row the document frequency (batches that read it at least once)
/// and total counts. Batches default to the finetuning batch shape (paraphrases × a fact-length window). Padding never
/// counts (these windows have none).
/// </summary>
public static class BackgroundStatsBuilder
{
    /// <summary>Default file name next to the checkpoint.</summary>
    public const string FileName = "background.safetensors";

    /// <summary>Computes the statistics for the checkpoint in <paramref name="modelDir"/>.</summary>
    /// <param name="modelDir">The checkpoint.</param>
    /// <param name="batches">|B|.</param>
    /// <param name="batchSize">Sequences per batch.</param>
    /// <param name="seqLen">Tokens per sequence.</param>
    /// <param name="seed">Batch sampling seed.</param>
    /// <param name="progress">Called after each batch (done, total).</param>
    /// <param name="corpus">The background text: null or <c>pretrain</c> (the model's own pretraining text, the paper's
    /// choice), an embedded fact set or facts file (its facts rendered as documents), <c>nq</c> (NaturalQuestions-open dev
    /// questions, from the benchmark files) or a <c>.txt</c> file (documents separated by blank lines).</param>
    public static BackgroundStats Build(string modelDir, int batches, int batchSize, int seqLen, int seed, Action<int, int>? progress = null, string? corpus = null)
    {
        if (batches <= 0) throw new ArgumentOutOfRangeException(nameof(batches), batches, "--batches must be ≥ 1");
        var loaded = Checkpoint.Load(modelDir);
        var model = loaded.Model;
        var values = model.MemoryValues ?? throw new InvalidOperationException($"{modelDir}: the model has no memory layer; background statistics need one");
        var (data, corpusSeed) = Checkpoint.PretrainingData(loaded);
        var train = new TrainConfig { BatchSize = batchSize, SeqLen = Math.Min(seqLen, model.Config.MaxSeqLen) };
        var stream = new PretrainData(Documents(corpus, data, corpusSeed), loaded.Tokenizer, data, train, seed);
        var stats = new BackgroundStats(values.shape[0], Checkpoint.Fingerprint(modelDir));
        Accumulate(stats, model, stream, batches, progress);
        return stats;
    }

    /// <summary>Names of the background corpora besides files (see <see cref="Build"/>).</summary>
    public const string PretrainCorpus = "pretrain", NqCorpus = "nq";

    /// <summary>The documents of a background corpus (see <see cref="Build"/>).</summary>
    public static IReadOnlyList<string> Documents(string? corpus, DataConfig pretraining, int seed)
    {
        if (corpus is null or PretrainCorpus) return CorpusLoader.Load(pretraining, seed);
        if (corpus == NqCorpus)
        {
            var paths = Data.Benchmarks.BenchmarkPaths.LocateDefault()
                ?? throw new FileNotFoundException($"corpus nq: the benchmark folder was not found (set {Data.Benchmarks.BenchmarkPaths.EnvironmentVariable})");
            // Questions in the QA format, 16 to a document so that batches are windows of question text.
            return Data.Benchmarks.NqOpen.Read(paths.NqOpenDev).Select(q => Data.Facts.QaFormat.Prompt(q.Question)).Chunk(16)
                .Select(c => string.Join("\n", c)).ToList();
        }
        if (corpus.EndsWith(".txt", StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(corpus)) throw new FileNotFoundException($"{corpus}: background corpus not found", corpus);
            var docs = File.ReadAllText(corpus).Split(["\n\n", "\r\n\r\n"], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return docs.Length > 0 ? docs : throw new InvalidDataException($"{corpus}: no text");
        }
        return Data.Facts.FactDocuments.Build(Data.Facts.FactsFile.ReadNamedOrFile(corpus), 4, seed);
    }

    /// <summary>Adds batches 0 … <paramref name="batches"/>−1 of <paramref name="source"/> to <paramref name="stats"/> (model frozen, eval mode).</summary>
    public static void Accumulate(BackgroundStats stats, LanguageModel model, IBatchSource source, int batches, Action<int, int>? progress = null)
    {
        var log = new MemoryAccessLog();
        using var _ = torch.no_grad();
        model.eval();
        for (int b = 0; b < batches; b++)
        {
            using var scope = torch.NewDisposeScope();
            var batch = source.Get(b);
            log.Clear();
            model.Forward(batch.Inputs.to(model.MemoryValues!.device), log, batch.ValidMask?.to(model.MemoryValues.device));
            stats.Accumulate(SlotCounts.FromLog(log, stats.SlotCount));
            log.Clear();
            if ((b + 1) % 50 == 0 || b + 1 == batches) progress?.Invoke(b + 1, batches);
        }
    }

}
