namespace SparseMemory.Data.Facts;

/// <summary>
/// The split of the known facts that measures knowledge <i>extraction</i> (docs/method.md#transfer-probe): with
/// <c>data.known_qa_fraction</c> = f, a fact appears in pretraining as statements and as question–answer lines when its
/// bucket (a stable hash of its id in [0, 1)) is below f, and as statements only otherwise. The <c>transfer-f1</c> probe
/// asks the questions of the facts whose bucket is at least <see cref="ProbeFraction"/>: on a base pretrained with
/// f ≤ 0.5 it never saw those questions, so its F1 is the base model's ability to turn a statement into an answer.
/// </summary>
public static class TransferSplit
{
    /// <summary>The bucket bound of the probe's half: facts at or above it are the statements-only half when f ≤ 0.5.</summary>
    public const double ProbeFraction = 0.5;

    /// <summary>The fact's bucket in [0, 1): a stable function of its id only.</summary>
    public static double Bucket(string id) => (uint)FactParaphraser.StableHash("transfer-split:" + id) / 4294967296.0;

    /// <summary>Whether a fact gets question–answer lines in pretraining under <paramref name="qaFraction"/>.</summary>
    public static bool HasQa(string id, double qaFraction) => qaFraction >= 1 || Bucket(id) < qaFraction;

    /// <summary>The facts the <c>transfer-f1</c> probe asks: bucket ≥ <see cref="ProbeFraction"/>, in the order given.</summary>
    public static IReadOnlyList<Fact> ProbeHalf(IEnumerable<Fact> facts) => facts.Where(f => Bucket(f.Id) >= ProbeFraction).ToArray();
}
