namespace SparseMemory.Tests.Finetuning;

/// <summary>
/// Plain-loop float64 references written from the maths in docs/method.md#access-counting to docs/method.md#kl-ranking (docs/testing.md#reference-implementations).
/// Deliberately naive: no shared code with the production rankers.
/// </summary>
internal static class SlowReference
{
    /// <summary>c(i): every (token, head, rank) lookup of every layer, pads skipped unless included.</summary>
    public static long[] Counts(IEnumerable<RawLayerBatch> layers, long slotCount, bool includePadding)
    {
        var c = new long[slotCount];
        foreach (var layer in layers)
        {
            for (int b = 0; b < layer.B; b++)
            {
                for (int t = 0; t < layer.T; t++)
                {
                    if (!includePadding && !layer.Valid[(b * layer.T) + t])
                    {
                        continue;
                    }

                    for (int j = 0; j < layer.HK; j++)
                    {
                        c[layer.Ids[(((b * layer.T) + t) * layer.HK) + j]] += 1;
                    }
                }
            }
        }

        return c;
    }

    /// <summary>df(i) and C_bg(i) from raw background batches.</summary>
    public static (long[] Df, long[] Total) Background(IReadOnlyList<RawLayerBatch[]> batches, long slotCount, bool includePadding)
    {
        var df = new long[slotCount];
        var total = new long[slotCount];
        foreach (var batch in batches)
        {
            var c = Counts(batch, slotCount, includePadding);
            for (long i = 0; i < slotCount; i++)
            {
                if (c[i] > 0)
                {
                    df[i] += 1;
                }

                total[i] += c[i];
            }
        }

        return (df, total);
    }

    public static Dictionary<long, double> TfIdfScores(long[] c, long[] df, long numBatches)
    {
        long sum = 0;
        foreach (long x in c)
        {
            sum += x;
        }

        var scores = new Dictionary<long, double>();
        for (long i = 0; i < c.Length; i++)
        {
            if (c[i] > 0)
            {
                double tf = (double)c[i] / sum;
                double idf = Math.Log((numBatches + 1.0) / (df[i] + 1.0));
                scores[i] = tf * idf;
            }
        }

        return scores;
    }

    public static Dictionary<long, double> TfScores(long[] c)
    {
        long sum = c.Sum();
        var scores = new Dictionary<long, double>();
        for (long i = 0; i < c.Length; i++)
        {
            if (c[i] > 0)
            {
                scores[i] = (double)c[i] / sum;
            }
        }

        return scores;
    }

    public static Dictionary<long, double> KlScores(long[] c, long[] bgTotal)
    {
        long sum = c.Sum();
        long bgSum = 0;
        foreach (long x in bgTotal)
        {
            bgSum += x + 1;
        }

        var scores = new Dictionary<long, double>();
        for (long i = 0; i < c.Length; i++)
        {
            if (c[i] > 0)
            {
                double pb = (double)c[i] / sum;
                double pbg = (bgTotal[i] + 1.0) / bgSum;
                scores[i] = pb * Math.Log((pb + 1e-8) / (pbg + 1e-8));
            }
        }

        return scores;
    }

    /// <summary>Full sort by (score desc, id asc), then the first min(t, n).</summary>
    public static long[] TopT(Dictionary<long, double> scores, int t) =>
        scores.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key).Take(t).Select(kv => kv.Key).ToArray();
}
