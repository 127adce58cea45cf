namespace SparseMemory.Finetuning;

/// <summary>Shared pieces of the rankers: argument checks, candidate gathering and deterministic top-t selection.</summary>
internal static class RankingCore
{
    public static void CheckTopT(int topT, string rankerName)
    {
        if (topT <= 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(topT), topT, $"Ranker '{rankerName}': top-t must be a positive number of value rows; set t to at least 1 (the paper uses 500 for facts, 10,000 for documents).");
        }
    }

    public static BackgroundStats RequireBackground(BackgroundStats? background, string rankerName, long slotCount)
    {
        if (background is null)
        {
            throw new ArgumentException(
                $"Ranker '{rankerName}' needs background statistics; compute them with `smf background --model DIR` and pass the file, or choose the tf_only ranker.",
                nameof(background));
        }

        CheckSlotCount(background, slotCount);
        return background;
    }

    public static void CheckSlotCount(BackgroundStats background, long slotCount)
    {
        if (background.SlotCount != slotCount)
        {
            throw new ArgumentException(
                $"The batch counts cover {slotCount} slots but the background stats cover {background.SlotCount}; recompute them for this model with `smf background --model DIR`.",
                nameof(background));
        }
    }

    /// <summary>Ids (ascending) of slots with c(i) &gt; 0 and Σc. Negative counts are rejected.</summary>
    public static (int[] Ids, long Total) Candidates(long[] counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        int n = 0;
        long total = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            long c = counts[i];
            if (c > 0)
            {
                n++;
                total = checked(total + c);
            }
            else if (c < 0)
            {
                throw new ArgumentException($"Slot {i} has a negative count {c}.", nameof(counts));
            }
        }

        var ids = new int[n];
        int k = 0;
        for (int i = 0; i < counts.Length && k < n; i++)
        {
            if (counts[i] > 0)
            {
                ids[k++] = i;
            }
        }

        return (ids, total);
    }

    /// <summary>
    /// Selects the best <paramref name="take"/> candidates by (score desc, id asc) without sorting all of them:
    /// a bounded heap of size t keeps the running best (O(n log t)); only the winners are sorted.
    /// </summary>
    /// <param name="rankerName">For the result.</param>
    /// <param name="ids">Candidate ids, parallel to <paramref name="scores"/>.</param>
    /// <param name="scores">Candidate scores (float64, not NaN).</param>
    /// <param name="take">How many to keep (clamped to the number of candidates).</param>
    /// <param name="requestedTopT">For the result.</param>
    /// <param name="candidateCount">Number of read slots, for the result.</param>
    /// <param name="total">Σc, for the result.</param>
    /// <param name="excludedZero">Candidates dropped before ranking, for the result.</param>
    public static SlotSelection SelectTop(
        string rankerName, int[] ids, double[] scores, int take, int requestedTopT, int candidateCount, long total, int excludedZero)
    {
        int n = ids.Length;
        take = Math.Min(take, n);
        int[] order;
        var comparer = new BetterFirst(ids, scores);
        if (take == n)
        {
            order = new int[n];
            for (int i = 0; i < n; i++)
            {
                order[i] = i;
            }
        }
        else
        {
            // Min-heap on "better": the root is the worst of the kept positions.
            var heap = new PriorityQueue<int, int>(take, Comparer<int>.Create((a, b) => comparer.Compare(b, a)));
            for (int p = 0; p < n; p++)
            {
                if (heap.Count < take)
                {
                    heap.Enqueue(p, p);
                }
                else if (comparer.Compare(p, heap.Peek()) < 0)
                {
                    heap.DequeueEnqueue(p, p);
                }
            }

            order = new int[take];
            for (int i = 0; heap.Count > 0; i++)
            {
                order[i] = heap.Dequeue();
            }
        }

        Array.Sort(order, comparer);
        var selIds = new long[take];
        var selScores = new double[take];
        int zero = 0, negative = 0;
        for (int i = 0; i < take; i++)
        {
            selIds[i] = ids[order[i]];
            double s = scores[order[i]];
            selScores[i] = s;
            if (s == 0)
            {
                zero++;
            }
            else if (s < 0)
            {
                negative++;
            }
        }

        return new SlotSelection(rankerName, selIds, selScores, requestedTopT, candidateCount, total, zero, negative, excludedZero);
    }

    /// <summary>Orders candidate positions best first: higher score, then lower slot id.</summary>
    private sealed class BetterFirst(int[] ids, double[] scores) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            int byScore = scores[b].CompareTo(scores[a]);
            return byScore != 0 ? byScore : ids[a].CompareTo(ids[b]);
        }
    }
}
