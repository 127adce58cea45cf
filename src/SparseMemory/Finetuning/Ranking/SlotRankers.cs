using SparseMemory.Config;

namespace SparseMemory.Finetuning;

/// <summary>What a ranker needs to be built (beyond the t and statistics it is called with).</summary>
/// <param name="Seed">Seed of rankers that draw at random.</param>
/// <param name="ExcludeZeroIdf">TF-IDF: never select zero-score slots.</param>
public sealed record RankerSettings(long Seed = 0, bool ExcludeZeroIdf = false);

/// <summary>A slot ranker as the registry knows it.</summary>
/// <param name="Name">Config name (<c>sparse.ranker</c>, <c>--ranker</c>).</param>
/// <param name="Description">One line for help texts.</param>
/// <param name="NeedsBackground">Whether it scores against <see cref="BackgroundStats"/>.</param>
/// <param name="Create">Builds the ranker.</param>
public sealed record RankerSpec(string Name, string Description, bool NeedsBackground, Func<RankerSettings, ISlotRanker> Create) : INamedEntry;

/// <summary>
/// The slot rankers. Adding one is a new <see cref="ISlotRanker"/> file with a static <c>Spec</c> and one line here.
/// </summary>
public static class SlotRankers
{
    /// <summary>Every ranker; the first is the default.</summary>
    public static readonly Registry<RankerSpec> Registry = new("ranker",
    [
        TfIdfRanker.Spec,
        TfOnlyRanker.Spec,
        KlRanker.Spec,
        RandomRanker.Spec,
        AllAccessedRanker.Spec,
    ]);

    /// <summary>Creates a ranker and checks t and the background statistics it will be used with.</summary>
    /// <param name="name">Registered name (see <see cref="Registry"/>).</param>
    /// <param name="topT">t; must be positive (also for rankers that ignore it).</param>
    /// <param name="background">Background statistics; required by rankers that declare <see cref="RankerSpec.NeedsBackground"/>.</param>
    /// <param name="settings">Seed and TF-IDF options.</param>
    /// <exception cref="ConfigException">Unknown name.</exception>
    /// <exception cref="ArgumentOutOfRangeException">t ≤ 0.</exception>
    /// <exception cref="ArgumentException">The ranker needs background statistics and none were given.</exception>
    public static ISlotRanker Create(string name, int topT, BackgroundStats? background, RankerSettings? settings = null)
    {
        var spec = Registry.Get(name, "sparse.ranker");
        var ranker = spec.Create(settings ?? new RankerSettings());
        RankingCore.CheckTopT(topT, ranker.Name);
        if (spec.NeedsBackground && background is null)
            throw new ArgumentException(
                $"The {spec.Name} ranker needs background statistics; compute them with `smf background --model DIR` and pass the file, or choose the tf_only ranker.",
                nameof(background));
        return ranker;
    }
}
