namespace SparseMemory.Finetuning;

/// <summary>Builds a ranker from configuration, failing early on settings that could never work.</summary>
public static class SlotRankerFactory
{
    /// <summary>Whether the ranker of <paramref name="kind"/> needs <see cref="BackgroundStats"/>.</summary>
    public static bool RequiresBackground(SlotRankerKind kind) => kind is SlotRankerKind.TfIdf or SlotRankerKind.Kl;

    /// <summary>Creates a ranker and checks t and the background statistics it will be used with.</summary>
    /// <param name="kind">Which ranker.</param>
    /// <param name="topT">t; must be positive (also for <see cref="SlotRankerKind.AllAccessed"/>, which ignores it).</param>
    /// <param name="background">Background statistics; required for TF-IDF and KL.</param>
    /// <param name="seed">Seed of the random ranker.</param>
    /// <param name="excludeZeroIdf">TF-IDF only: never select zero-score slots.</param>
    /// <exception cref="ArgumentOutOfRangeException">t ≤ 0, or an unknown kind.</exception>
    /// <exception cref="ArgumentException">The ranker needs background statistics and none were given.</exception>
    public static ISlotRanker Create(SlotRankerKind kind, int topT, BackgroundStats? background, long seed = 0, bool excludeZeroIdf = false)
    {
        ISlotRanker ranker = kind switch
        {
            SlotRankerKind.TfIdf => new TfIdfRanker(excludeZeroIdf),
            SlotRankerKind.TfOnly => new TfOnlyRanker(),
            SlotRankerKind.Kl => new KlRanker(),
            SlotRankerKind.Random => new RandomRanker(seed),
            SlotRankerKind.AllAccessed => new AllAccessedRanker(),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, $"Unknown slot ranker; use one of {string.Join(", ", Enum.GetNames<SlotRankerKind>())}."),
        };

        RankingCore.CheckTopT(topT, ranker.Name);
        if (RequiresBackground(kind) && background is null)
        {
            throw new ArgumentException(
                $"The {ranker.Name} ranker needs background statistics; compute them with `smf background --model DIR` and pass the file, or choose the tf-only ranker.",
                nameof(background));
        }

        return ranker;
    }
}
