using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Memory;
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
    public static BackgroundStats Build(string modelDir, int batches, int batchSize, int seqLen, int seed, Action<int, int>? progress = null)
    {
        if (batches <= 0) throw new ArgumentOutOfRangeException(nameof(batches), batches, "--batches must be ≥ 1");
        var loaded = Checkpoint.Load(modelDir);
        var model = loaded.Model;
        var values = model.MemoryValues ?? throw new InvalidOperationException($"{modelDir}: the model has no memory layer; background statistics need one");
        var (data, corpusSeed) = Checkpoint.PretrainingData(loaded);
        var train = new TrainConfig { BatchSize = batchSize, SeqLen = Math.Min(seqLen, model.Config.MaxSeqLen) };
        var stream = new PretrainData(CorpusLoader.Load(data, corpusSeed), loaded.Tokenizer, data, train, seed);
        var stats = new BackgroundStats(values.shape[0], Checkpoint.Fingerprint(modelDir));
        var log = new MemoryAccessLog();
        using var _ = torch.no_grad();
        model.eval();
        for (int b = 0; b < batches; b++)
        {
            using var scope = torch.NewDisposeScope();
            var batch = stream.Get(b);
            log.Clear();
            model.Forward(batch.Inputs, log, null);
            var layers = log.Accesses.Select(a => (a.Indices, torch.ones(a.Indices.shape[0], a.Indices.shape[1], dtype: ScalarType.Bool))).ToList();
            stats.Accumulate(SlotCounts.FromAccesses(layers, values.shape[0]));
            log.Clear();
            if ((b + 1) % 50 == 0 || b + 1 == batches) progress?.Invoke(b + 1, batches);
        }
        return stats;
    }

}
