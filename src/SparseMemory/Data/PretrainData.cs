using SparseMemory.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Data;

/// <summary>
/// Pretraining text as two token streams (train and held-out). Documents are joined with the end-of-text token;
/// held-out documents are the last <see cref="DataConfig.HeldoutFraction"/> of the corpus order (of the text documents only when
/// the documents come as a <see cref="CorpusDocuments"/> with known facts mixed in). Batches are
/// random windows of T+1 tokens drawn with a generator seeded by (seed, step), so any step can be replayed.
/// </summary>
public sealed class PretrainData : IBatchSource
{
    readonly int[] _train, _heldout;
    readonly int _batchSize, _seqLen, _seed;

    /// <summary>Tokenizes documents into train and held-out streams.</summary>
    public PretrainData(IReadOnlyList<string> documents, ITokenizer tokenizer, DataConfig data, TrainConfig train, int seed)
    {
        int nHeld = CorpusLoader.HeldoutCount(documents, data);
        if (documents.Count < 2) throw new InvalidDataException("the corpus needs at least 2 documents (one is held out)");
        _train = Join(documents.Take(documents.Count - nHeld), tokenizer);
        _heldout = Join(documents.Skip(documents.Count - nHeld), tokenizer);
        _batchSize = train.BatchSize;
        _seqLen = train.SeqLen;
        _seed = seed;
        if (_train.Length <= _seqLen + 1) throw new InvalidDataException($"the training text has only {_train.Length} tokens; need more than seq_len + 1 = {_seqLen + 1}");
        if (_heldout.Length <= _seqLen + 1) throw new InvalidDataException($"the held-out text has only {_heldout.Length} tokens; raise data.heldout_fraction or lower train.seq_len");
    }

    /// <summary>Training tokens.</summary>
    public int TrainTokens => _train.Length;
    /// <summary>Held-out tokens.</summary>
    public int HeldoutTokens => _heldout.Length;
    /// <summary>Tokens per step.</summary>
    public int TokensPerBatch => _batchSize * _seqLen;

    static int[] Join(IEnumerable<string> docs, ITokenizer tok)
    {
        var all = new List<int>();
        foreach (string d in docs) { all.AddRange(tok.Encode(d)); all.Add(tok.EosId); }
        return all.ToArray();
    }

    /// <inheritdoc/>
    public TrainingBatch Get(int step) => Windows(_train, new Random(SeedMix.Mix(_seed, step, 0x5eed)), _batchSize);

    /// <summary>Held-out batch <paramref name="index"/> (fixed windows, the same at every evaluation).</summary>
    public TrainingBatch Heldout(int index) => Windows(_heldout, new Random(SeedMix.Mix(_seed, index, 0xe7a1)), _batchSize);

    TrainingBatch Windows(int[] stream, Random rng, int b)
    {
        var x = new long[b * _seqLen];
        var y = new long[b * _seqLen];
        for (int i = 0; i < b; i++)
        {
            int start = rng.Next(0, stream.Length - _seqLen - 1);
            for (int j = 0; j < _seqLen; j++)
            {
                x[i * _seqLen + j] = stream[start + j];
                y[i * _seqLen + j] = stream[start + j + 1];
            }
        }
        return new TrainingBatch(torch.tensor(x, [b, _seqLen]), torch.tensor(y, [b, _seqLen]), null);
    }
}
