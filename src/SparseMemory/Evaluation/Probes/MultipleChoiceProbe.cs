using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Data.Benchmarks;

namespace SparseMemory.Evaluation.Probes;

/// <summary>One multiple-choice item as scored: every choice is a continuation of <see cref="Context"/> (choices
/// start with their separating space).</summary>
public sealed record ChoiceItem(string Id, string Context, IReadOnlyList<string> Choices, int Gold);

/// <summary>
/// Multiple choice by log-likelihood: headline <c>acc_norm</c> (per-character normalised, as lm-eval), extras
/// <c>acc</c>, <c>margin</c> (mean LL of gold − best wrong, nats) and <c>margin_norm</c> (the same per character).
/// </summary>
public sealed class MultipleChoiceProbe(string name, string description, Func<ProbeOptions, IReadOnlyList<ChoiceItem>> items) : IProbe
{
    /// <inheritdoc/>
    public string Name => name;
    /// <inheritdoc/>
    public string Metric => "acc_norm";
    /// <inheritdoc/>
    public bool HigherIsBetter => true;
    /// <inheritdoc/>
    public string Description => description;

    /// <summary><c>hellaswag</c>: context <c>"label: context"</c>, each ending as <c>" ending"</c>.</summary>
    public static MultipleChoiceProbe HellaSwagProbe() => new("hellaswag", "HellaSwag validation, length-normalised LL accuracy",
        o => HellaSwag.Read(ProbeData.File(ProbeData.Benchmarks(o).HellaSwagVal))
            .Select((h, i) => new ChoiceItem($"hellaswag-{i}", $"{h.Label}: {h.Context}", h.Endings.Select(e => " " + e).ToArray(), h.Gold)).ToArray());

    /// <summary><c>arc-easy</c>: <c>"Question: …\nAnswer:"</c> and <c>" choice"</c>.</summary>
    public static MultipleChoiceProbe ArcEasy() => new("arc-easy", "ARC-Easy, length-normalised LL accuracy",
        o => FromQueries(MultipleChoice.ReadArcEasy(ProbeData.File(ProbeData.Benchmarks(o).ArcEasy)), "arc"));

    /// <summary><c>piqa</c>: <c>"Question: goal\nAnswer:"</c> and <c>" solution"</c>.</summary>
    public static MultipleChoiceProbe Piqa() => new("piqa", "PIQA, length-normalised LL accuracy",
        o => FromQueries(MultipleChoice.ReadPiqa(ProbeData.File(ProbeData.Benchmarks(o).Piqa)), "piqa"));

    /// <summary>The published queries (<c>"Question: …"</c>, some ending in a newline) completed to <c>"…\nAnswer:"</c>.</summary>
    public static IReadOnlyList<ChoiceItem> FromQueries(IReadOnlyList<MultipleChoiceItem> raw, string prefix) =>
        raw.Select((q, i) => new ChoiceItem($"{prefix}-{i}", q.Query.TrimEnd() + "\nAnswer:", q.Choices.Select(c => " " + c.Trim()).ToArray(), q.Gold))
            .ToArray();

    /// <inheritdoc/>
    public ProbeResult Run(LoadedModel model, ProbeOptions options)
    {
        var subset = ProbeSubset.Take(items(options), options.Limit, options.Seed, Name);
        var flat = subset.SelectMany(it => it.Choices.Select(c => (it.Context, c))).ToArray();
        var scores = LogLikelihood.ScoreContinuations(model.Model, model.Tokenizer, flat, options.BatchSize);
        var scored = new List<ChoiceScores>(subset.Count);
        int at = 0;
        foreach (var it in subset)
        {
            scored.Add(new ChoiceScores(it.Gold, scores.Skip(at).Take(it.Choices.Count).ToArray()));
            at += it.Choices.Count;
        }
        var r = MultipleChoiceMetrics.Score(scored);
        var details = options.Details
            ? subset.Select((it, i) => new JsonObject
            {
                ["id"] = it.Id, ["gold"] = it.Gold,
                ["pred"] = MultipleChoiceMetrics.Predict(scored[i].Choices, false),
                ["pred_norm"] = MultipleChoiceMetrics.Predict(scored[i].Choices, true),
                ["ll"] = new JsonArray(scored[i].Choices.Select(c => (JsonNode)JsonValue.Create(c.LogProb)).ToArray()),
            }).ToArray()
            : null;
        return new ProbeResult(Name, Metric, r.AccuracyNorm, r.Count, 0,
            new Dictionary<string, double> { ["acc"] = r.Accuracy, ["margin"] = r.MeanMargin, ["margin_norm"] = r.MeanMarginNorm }, details);
    }
}
