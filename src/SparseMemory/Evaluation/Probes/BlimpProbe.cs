using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Data.Benchmarks;

namespace SparseMemory.Evaluation.Probes;

/// <summary>
/// BLiMP minimal pairs: a pair is correct when the full-sentence LL (after end-of-text) of the good sentence is higher.
/// Headline: accuracy over all scored pairs; extras <c>acc/&lt;paradigm&gt;</c>. <see cref="ProbeOptions.Limit"/>
/// applies per paradigm.
/// </summary>
public sealed class BlimpProbe : IProbe
{
    /// <summary>Ten paradigms spanning morphology, syntax and semantics (agreement, islands, NPIs, binding, argument
    /// structure, quantifiers).</summary>
    public static readonly IReadOnlyList<string> DefaultParadigms =
    [
        "anaphor_gender_agreement", "determiner_noun_agreement_1", "regular_plural_subject_verb_agreement_1",
        "irregular_past_participle_verbs", "existential_there_quantifiers_1", "npi_present_1", "passive_1",
        "wh_questions_object_gap", "transitive", "principle_A_case_1",
    ];

    /// <inheritdoc/>
    public string Name => "blimp";
    /// <inheritdoc/>
    public string Metric => "accuracy";
    /// <inheritdoc/>
    public bool HigherIsBetter => true;
    /// <inheritdoc/>
    public string Description => "BLiMP minimal pairs (LL good > LL bad), ten paradigms by default; --limit per paradigm";

    /// <inheritdoc/>
    public ProbeResult Run(LoadedModel model, ProbeOptions options)
    {
        string dir = ProbeData.File(ProbeData.Benchmarks(options).BlimpDirectory);
        var pairs = new List<BlimpPair>();
        foreach (string paradigm in options.BlimpParadigms ?? DefaultParadigms)
            pairs.AddRange(ProbeSubset.Take(Blimp.ReadParadigm(dir, paradigm), options.Limit, options.Seed, $"{Name}/{paradigm}"));
        var correct = LikelihoodMetrics.PairCorrect(model.Model, model.Tokenizer,
            pairs.Select(p => (p.SentenceGood, p.SentenceBad)).ToArray(), options.BatchSize);
        var extra = new Dictionary<string, double>();
        foreach (var group in pairs.Select((p, i) => (p.Uid, Ok: correct[i])).GroupBy(x => x.Uid))
            extra[$"acc/{group.Key}"] = group.Average(x => x.Ok ? 1.0 : 0.0);
        var details = options.Details
            ? pairs.Select((p, i) => new JsonObject { ["paradigm"] = p.Uid, ["pair_id"] = p.PairId, ["correct"] = correct[i] }).ToArray()
            : null;
        return new ProbeResult(Name, Metric, pairs.Count == 0 ? double.NaN : correct.Average(c => c ? 1.0 : 0.0), pairs.Count, 0, extra, details);
    }
}
