using System.Text.Json;
using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Benchmarks;
using SparseMemory.Data.Facts;

namespace SparseMemory.Evaluation.Probes;

/// <summary>One scored text: <see cref="Continuation"/> given <see cref="Context"/> (empty = after end-of-text).</summary>
public sealed record NllItem(string Id, string Context, string Continuation);

/// <summary>
/// Per-token NLL (headline, nats, lower is better) of reference continuations: gold answers, reference solutions,
/// background documents. Extras: <c>nll_per_item</c>, <c>nll_per_char</c>, <c>perplexity</c>, <c>tokens</c>.
/// </summary>
public sealed class NllProbe(string name, string description, Func<LoadedModel, ProbeOptions, IReadOnlyList<NllItem>> items) : IProbe
{
    /// <inheritdoc/>
    public string Name => name;
    /// <inheritdoc/>
    public string Metric => "nll_per_token";
    /// <inheritdoc/>
    public bool HigherIsBetter => false;
    /// <inheritdoc/>
    public string Description => description;

    /// <summary><c>nq-answer-nll</c>: NLL of the first NQ answer given <c>QaFormat.Prompt(question)</c>, scored as " answer".</summary>
    public static NllProbe NqAnswer() => new("nq-answer-nll", "NLL of the first NaturalQuestions answer given the QA prompt",
        (_, o) => NqOpen.Read(ProbeData.File(ProbeData.Benchmarks(o).NqOpenDev))
            .Select((q, i) => new NllItem($"nq-{i}", QaFormat.Prompt(q.Question), " " + q.Answers[0].Trim())).ToArray());

    /// <summary><c>gsm8k-nll</c>: NLL of the reference solution (calculator annotations stripped, <c>#### n</c> kept)
    /// given <c>Question: …\nAnswer:</c>.</summary>
    public static NllProbe Gsm8kSolution() => new("gsm8k-nll", "NLL of the GSM8K reference solution given the question",
        (_, o) => Gsm8k.Read(ProbeData.File(ProbeData.Benchmarks(o).Gsm8kTest))
            .Select((q, i) => new NllItem($"gsm8k-{i}", QaFormat.Prompt(q.Question), " " + Gsm8k.StripCalculatorAnnotations(q.Answer).Trim())).ToArray());

    /// <summary>
    /// <c>heldout-nll</c>: background documents scored in full after end-of-text. By default the held-out documents of
    /// the checkpoint's pretraining corpus (the last <c>data.heldout_fraction</c> of the documents its config names, the
    /// split <see cref="PretrainData"/> uses); with <see cref="ProbeOptions.HeldoutCorpus"/> every document of that file.
    /// </summary>
    public static NllProbe Heldout() => new("heldout-nll", "Per-token NLL on held-out background text (pretraining corpus hold-out or --heldout FILE)",
        (m, o) => HeldoutDocuments(m, o).Select((d, i) => new NllItem($"doc-{i}", "", d)).ToArray());

    /// <summary>The documents <c>heldout-nll</c> scores (before <see cref="ProbeOptions.Limit"/>).</summary>
    public static IReadOnlyList<string> HeldoutDocuments(LoadedModel model, ProbeOptions options)
    {
        if (options.HeldoutCorpus is { } file) return TextCorpus.ReadDocuments(file).ToArray();
        var (data, seed) = Checkpoint.PretrainingData(model);
        var docs = CorpusLoader.Load(data, seed);
        int held = CorpusLoader.HeldoutCount(docs, data);                                // as PretrainData splits
        return docs.Skip(docs.Count - held).ToArray();
    }

    /// <inheritdoc/>
    public ProbeResult Run(LoadedModel model, ProbeOptions options)
    {
        var subset = ProbeSubset.Take(items(model, options), options.Limit, options.Seed, Name);
        var scores = LogLikelihood.ScoreContinuations(model.Model, model.Tokenizer,
            subset.Select(it => (it.Context, it.Continuation)).ToArray(), options.BatchSize);
        var s = NllSummary.From(scores);
        var extra = new Dictionary<string, double>
        {
            ["nll_per_item"] = s.PerItem, ["nll_per_char"] = s.PerChar, ["perplexity"] = s.Perplexity, ["tokens"] = s.Tokens,
        };
        var details = options.Details
            ? subset.Select((it, i) => new JsonObject { ["id"] = it.Id, ["tokens"] = scores[i].Tokens, ["nll"] = scores[i].Nll }).ToArray()
            : null;
        return new ProbeResult(Name, Metric, s.PerToken, subset.Count, 0, extra, details);
    }
}
