using SparseMemory.Config;
using SparseMemory.Data.Documents.Augmentations;
using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents;

/// <summary>
/// The document stream (docs/documents.md): step s trains on chunk ⌊s / steps_per_item⌋ (wrapping around), in document
/// order, as a batch of <c>batchSize</c> augmented lines drawn with a seed mixed from the run's seed and s, tokenized
/// and padded as the fact stream's (<see cref="FactBatches.Pad"/>). The batch is a function of the step, so a resumed
/// run repeats and skips nothing.
/// </summary>
public sealed class DocumentStream : IBatchSource
{
    readonly ITokenizer _tok;
    readonly int _batchSize, _stepsPerItem, _seed, _maxLen;
    readonly AugmentedBatch _builder;
    readonly object _lock = new();
    (int Index, IReadOnlyList<IReadOnlyList<TrainingLine>> Pools)? _last;      // the stream visits chunks in order: one cached

    /// <summary>Creates the stream over <paramref name="chunks"/> (at least one).</summary>
    public DocumentStream(IReadOnlyList<Chunk> chunks, ITokenizer tokenizer, IReadOnlyList<AugmentationSpec> strategies, int batchSize,
        int stepsPerItem, int seed, int maxLen, IReadOnlyList<string>? heldOutQuestions = null)
    {
        if (chunks.Count == 0) throw new ArgumentException("the document stream has no chunks");
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(stepsPerItem, 1);
        Chunks = chunks; _tok = tokenizer; _batchSize = batchSize; _stepsPerItem = stepsPerItem; _seed = seed; _maxLen = maxLen;
        _builder = new AugmentedBatch(strategies, heldOutQuestions);
    }

    /// <summary>The chunks, in stream order.</summary>
    public IReadOnlyList<Chunk> Chunks { get; }

    /// <summary>Steps spent on each chunk.</summary>
    public int StepsPerItem => _stepsPerItem;

    /// <summary>The strategies, in slot order.</summary>
    public IReadOnlyList<AugmentationSpec> Strategies => _builder.Strategies;

    /// <summary>The chunk trained at <paramref name="step"/>.</summary>
    public Chunk ChunkAt(int step) => Chunks[step / _stepsPerItem % Chunks.Count];

    /// <summary>The seed of step <paramref name="step"/>'s draw.</summary>
    public int StepSeed(int step) => SeedMix.Mix(_seed, step);

    /// <summary>The lines of step <paramref name="step"/>'s batch, each with the strategy that made it.</summary>
    public IReadOnlyList<TrainingLine> Lines(int step)
    {
        int index = step / _stepsPerItem % Chunks.Count;
        IReadOnlyList<IReadOnlyList<TrainingLine>> pools;
        lock (_lock)
        {
            if (_last is not { } last || last.Index != index) _last = (index, _builder.Pools(Chunks[index]));
            pools = _last.Value.Pools;
        }
        return AugmentedBatch.Draw(pools, Chunks[index], _batchSize, StepSeed(step));
    }

    /// <summary>How many lines of step <paramref name="step"/>'s batch each strategy made (strategies that made none included, as 0).</summary>
    public IReadOnlyDictionary<string, int> Usage(int step) => Usage(Lines(step), Strategies);

    /// <summary>How many of <paramref name="lines"/> each strategy made, every one of <paramref name="strategies"/> listed.</summary>
    public static IReadOnlyDictionary<string, int> Usage(IReadOnlyList<TrainingLine> lines, IReadOnlyList<AugmentationSpec> strategies)
    {
        var counts = strategies.ToDictionary(s => s.Name, _ => 0);
        foreach (var line in lines)
        {
            var name = line.Strategy ?? ChunkItself.Spec.Name;
            counts[name] = counts.GetValueOrDefault(name) + 1;
        }
        return counts;
    }

    /// <inheritdoc/>
    public TrainingBatch Get(int step) => FactBatches.Pad(Lines(step).Select(l => _tok.Encode(l.Text)).ToList(), _tok, _maxLen);
}
