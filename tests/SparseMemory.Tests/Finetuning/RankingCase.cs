namespace SparseMemory.Tests.Finetuning;

/// <summary>A seeded ranking scenario: one finetuning batch and a set of background batches, all layers sharing one table.</summary>
internal sealed record RankingCase(string Name, long SlotCount, RawLayerBatch[] Batch, RawLayerBatch[][] Background, int TopT, bool IncludePadding)
{
    public override string ToString() => Name;

    /// <summary>The named scenarios of docs/testing.md#ranking-scenarios.</summary>
    public static RankingCase Build(string name)
    {
        var rng = new Random(1234 + (7919 * Array.IndexOf(Names, name)));
        return name switch
        {
            "zipf" => Zipf(name, rng, slotCount: 4096, layers: 2, includePadding: false, backgroundBatches: 20, topT: 50),
            "zipf-pads-included" => Zipf(name, rng, slotCount: 4096, layers: 2, includePadding: true, backgroundBatches: 20, topT: 50),
            "zipf-one-background-batch" => Zipf(name, rng, slotCount: 2048, layers: 1, includePadding: false, backgroundBatches: 1, topT: 40),
            "t-exceeds-read" => Zipf(name, rng, slotCount: 1024, layers: 1, includePadding: false, backgroundBatches: 5, topT: 100_000),
            "equal-counts-df-zero" => EqualCounts(name),
            "df-equals-B" => DfEqualsB(name, rng),
            "empty-batch" => Empty(name),
            "heads-hit-same-slot" => SameSlotAcrossHeads(name, rng),
            "large-sparse" => Zipf(name, rng, slotCount: 1 << 20, layers: 2, includePadding: false, backgroundBatches: 3, topT: 200, vocabulary: 3000),
            _ => throw new ArgumentException(name),
        };
    }

    public static readonly string[] Names =
    [
        "zipf", "zipf-pads-included", "zipf-one-background-batch", "t-exceeds-read", "equal-counts-df-zero",
        "df-equals-B", "empty-batch", "heads-hit-same-slot", "large-sparse",
    ];

    /// <summary>Zipf(1.1) hits over a random "vocabulary" of slots, about 20% padding at the end of rows.</summary>
    private static RankingCase Zipf(string name, Random rng, long slotCount, int layers, bool includePadding, int backgroundBatches, int topT, int vocabulary = 1500)
    {
        var vocab = new long[vocabulary];
        for (int i = 0; i < vocabulary; i++)
        {
            vocab[i] = rng.NextInt64(slotCount);
        }

        var cdf = new double[vocabulary];
        double acc = 0;
        for (int r = 0; r < vocabulary; r++)
        {
            acc += 1.0 / Math.Pow(r + 1, 1.1);
            cdf[r] = acc;
        }

        long Sample()
        {
            double u = rng.NextDouble() * acc;
            int r = Array.BinarySearch(cdf, u);
            return vocab[Math.Min(r < 0 ? ~r : r, vocabulary - 1)];
        }

        RawLayerBatch[] MakeBatch()
        {
            var result = new RawLayerBatch[layers];
            for (int l = 0; l < layers; l++)
            {
                const int b = 4, t = 8, hk = 6;
                var ids = new long[b * t * hk];
                for (int i = 0; i < ids.Length; i++)
                {
                    ids[i] = Sample();
                }

                var valid = new bool[b * t];
                for (int row = 0; row < b; row++)
                {
                    int length = rng.Next(4, t + 1);
                    for (int p = 0; p < length; p++)
                    {
                        valid[(row * t) + p] = true;
                    }
                }

                result[l] = new RawLayerBatch(b, t, hk, ids, valid);
            }

            return result;
        }

        var background = Enumerable.Range(0, backgroundBatches).Select(_ => MakeBatch()).ToArray();
        return new RankingCase(name, slotCount, MakeBatch(), background, topT, includePadding);
    }

    /// <summary>Slots 100..163 each read exactly once, none seen in the 3 background batches: 64-way tie, t = 10.</summary>
    private static RankingCase EqualCounts(string name)
    {
        var ids = Enumerable.Range(100, 64).Select(i => (long)i).ToArray();
        var batch = new RawLayerBatch(1, 16, 4, ids, Enumerable.Repeat(true, 16).ToArray());
        var bg = Enumerable.Range(0, 3)
            .Select(k => new[] { new RawLayerBatch(1, 2, 4, Enumerable.Range(k * 8, 8).Select(i => (long)i).ToArray(), [true, true]) })
            .ToArray();
        return new RankingCase(name, 256, [batch], bg, 10, false);
    }

    /// <summary>Slots 0..7 are read by every background batch (idf 0); the batch reads them heavily and 3 fresh slots once.</summary>
    private static RankingCase DfEqualsB(string name, Random rng)
    {
        var bg = Enumerable.Range(0, 4)
            .Select(_ => new[] { new RawLayerBatch(1, 4, 4, Enumerable.Range(0, 16).Select(i => (long)(i % 8)).ToArray(), [true, true, true, true]) })
            .ToArray();
        var ids = new long[6 * 4];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = i < 3 ? 50 + i : rng.Next(8);
        }

        var batch = new RawLayerBatch(1, 6, 4, ids, Enumerable.Repeat(true, 6).ToArray());
        return new RankingCase(name, 64, [batch], bg, 6, false);
    }

    /// <summary>Every position of the batch is padding.</summary>
    private static RankingCase Empty(string name)
    {
        var batch = new RawLayerBatch(2, 3, 2, Enumerable.Range(0, 12).Select(i => (long)i).ToArray(), new bool[6]);
        var bg = new[] { new[] { new RawLayerBatch(1, 1, 2, [1, 2], [true]) } };
        return new RankingCase(name, 32, [batch], bg, 5, false);
    }

    /// <summary>H = 4 heads, K = 2: each token sends all heads to the same two slots.</summary>
    private static RankingCase SameSlotAcrossHeads(string name, Random rng)
    {
        const int b = 2, t = 5, hk = 8;
        var ids = new long[b * t * hk];
        for (int tok = 0; tok < b * t; tok++)
        {
            long s0 = rng.Next(40), s1 = rng.Next(40);
            for (int h = 0; h < 4; h++)
            {
                ids[(tok * hk) + (2 * h)] = s0;
                ids[(tok * hk) + (2 * h) + 1] = s1;
            }
        }

        var valid = Enumerable.Range(0, b * t).Select(i => i % t != t - 1).ToArray();
        var bg = new[] { new[] { new RawLayerBatch(1, 2, 2, [0, 1, 2, 3], [true, true]) }, new[] { new RawLayerBatch(1, 1, 2, [1, 5], [true]) } };
        return new RankingCase(name, 40, [new RawLayerBatch(b, t, hk, ids, valid)], bg, 7, false);
    }
}
