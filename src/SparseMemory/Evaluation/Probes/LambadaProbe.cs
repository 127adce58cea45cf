using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Data.Benchmarks;

namespace SparseMemory.Evaluation.Probes;

/// <summary>
/// LAMBADA (OpenAI version): headline NLL of the target word (" word", all its tokens) given the passage, mean over
/// items; extras <c>accuracy</c> (greedy decoding reproduces every target token, as lm-eval), <c>perplexity</c>
/// (exp of the headline) and <c>nll_per_token</c>.
/// </summary>
public sealed class LambadaProbe : IProbe
{
    /// <inheritdoc/>
    public string Name => "lambada";
    /// <inheritdoc/>
    public string Metric => "nll";
    /// <inheritdoc/>
    public bool HigherIsBetter => false;
    /// <inheritdoc/>
    public string Description => "LAMBADA target-word NLL and greedy accuracy";

    /// <inheritdoc/>
    public ProbeResult Run(LoadedModel model, ProbeOptions options)
    {
        var all = Lambada.Read(ProbeData.File(ProbeData.Benchmarks(options).Lambada));
        var subset = ProbeSubset.Take(all, options.Limit, options.Seed, Name);
        var scores = LogLikelihood.ScoreContinuations(model.Model, model.Tokenizer,
            subset.Select(it => (it.Context, " " + it.Continuation.Trim())).ToArray(), options.BatchSize);
        var s = NllSummary.From(scores);
        var extra = new Dictionary<string, double>
        {
            ["accuracy"] = scores.Count == 0 ? double.NaN : scores.Average(x => x.IsGreedy ? 1.0 : 0.0),
            ["perplexity"] = Math.Exp(s.PerItem),
            ["nll_per_token"] = s.PerToken,
        };
        var details = options.Details
            ? subset.Select((it, i) => new JsonObject { ["target"] = it.Continuation, ["nll"] = scores[i].Nll, ["greedy"] = scores[i].IsGreedy }).ToArray()
            : null;
        return new ProbeResult(Name, Metric, s.PerItem, subset.Count, 0, extra, details);
    }
}
