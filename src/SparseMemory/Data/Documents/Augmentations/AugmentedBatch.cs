using SparseMemory.Data.Facts;

namespace SparseMemory.Data.Documents.Augmentations;

/// <summary>
/// Fills one step's batch from one chunk (docs/documents.md#strategies). Each strategy's pool is computed from the
/// chunk; lines that contain a held-out question are removed (<see cref="QuestionLeak"/>). The batch's slots go to the
/// strategies with a non-empty pool in turn, from an offset drawn with the step's seed, and each strategy fills its slots
/// from its pool in a seeded order, distinct while the pool lasts. The same chunk, strategies, size and seed give the
/// same lines.
/// </summary>
public sealed class AugmentedBatch
{
    readonly IReadOnlyList<AugmentationSpec> _strategies;
    readonly IReadOnlyList<string> _heldOut;

    /// <summary>A builder for <paramref name="strategies"/>, never emitting a line that contains one of <paramref name="heldOutQuestions"/>.</summary>
    public AugmentedBatch(IReadOnlyList<AugmentationSpec> strategies, IReadOnlyList<string>? heldOutQuestions = null)
    {
        if (strategies.Count == 0) throw new ArgumentException("at least one augmentation strategy is needed", nameof(strategies));
        _strategies = strategies;
        _heldOut = heldOutQuestions ?? [];
    }

    /// <summary>The strategies, in slot order.</summary>
    public IReadOnlyList<AugmentationSpec> Strategies => _strategies;

    /// <summary>Each strategy's pool for <paramref name="chunk"/>, without lines that contain a held-out question.</summary>
    public IReadOnlyList<IReadOnlyList<TrainingLine>> Pools(Chunk chunk)
    {
        var pools = _strategies.Select(s => s.Strategy.Lines(chunk)).ToList();
        if (_heldOut.Count == 0) return pools;
        var leaking = QuestionLeak.Find(pools.SelectMany(p => p.Select(l => l.Text)), _heldOut).Select(x => x.Line).ToHashSet(StringComparer.Ordinal);
        return pools.Select(p => (IReadOnlyList<TrainingLine>)p.Where(l => !leaking.Contains(l.Text)).ToList()).ToList();
    }

    /// <summary><paramref name="count"/> lines for <paramref name="chunk"/> drawn with <paramref name="seed"/>.</summary>
    public IReadOnlyList<TrainingLine> Lines(Chunk chunk, int count, int seed) => Draw(Pools(chunk), chunk, count, seed);

    /// <summary>As <see cref="Lines(Chunk, int, int)"/> from pools already computed (<see cref="Pools"/>).</summary>
    public static IReadOnlyList<TrainingLine> Draw(IReadOnlyList<IReadOnlyList<TrainingLine>> pools, Chunk chunk, int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var random = new Random(seed);
        var live = Enumerable.Range(0, pools.Count).Where(i => pools[i].Count > 0).ToList();
        if (live.Count == 0)
            // No chosen strategy applies to this chunk (e.g. only "reorder" on a one-sentence chunk): the chunk itself.
            return Enumerable.Repeat(new TrainingLine(chunk.Text, LineKind.Statement, "the chunk (no chosen strategy applies)", ChunkItself.Spec.Name), count).ToList();
        int offset = random.Next(live.Count);
        var slots = new int[live.Count];
        for (int i = 0; i < count; i++) slots[(offset + i) % live.Count]++;
        var lines = new List<TrainingLine>(count);
        for (int k = 0; k < live.Count; k++)
        {
            var pool = pools[live[k]];
            for (int taken = 0; taken < slots[k];)
            {
                var order = pool.ToArray();
                random.Shuffle(order);
                foreach (var line in order.Take(slots[k] - taken)) { lines.Add(line); taken++; }
            }
        }
        return lines;
    }
}
