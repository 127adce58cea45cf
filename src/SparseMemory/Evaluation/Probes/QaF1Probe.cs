using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Data.Benchmarks;
using SparseMemory.Data.Facts;
using SparseMemory.Model;

namespace SparseMemory.Evaluation.Probes;

/// <summary>One open QA item: a question and its accepted answers (the first is the canonical one).</summary>
public sealed record QaItem(string Id, string Question, IReadOnlyList<string> Answers);

/// <summary>
/// Open QA by greedy decoding: prompt <see cref="QaFormat.Prompt"/>, at most <see cref="MaxAnswerTokens"/> tokens,
/// stopping at the first newline; SQuAD F1 (headline) and exact match against every accepted answer. Also reports
/// <c>answer_nll</c>, the per-token NLL of the canonical answer, which moves long before F1 does on a small model.
/// </summary>
public sealed class QaF1Probe(string name, string description, Func<ProbeOptions, IReadOnlyList<QaItem>> items) : IProbe
{
    /// <summary>Greedy decoding budget: short answers only.</summary>
    public const int MaxAnswerTokens = 12;

    /// <inheritdoc/>
    public string Name => name;
    /// <inheritdoc/>
    public string Metric => "f1";
    /// <inheritdoc/>
    public bool HigherIsBetter => true;
    /// <inheritdoc/>
    public string Description => description;

    /// <summary><c>target-f1</c>: the facts being learned (default the embedded <c>new</c> set).</summary>
    public static QaF1Probe Target() => new("target-f1", "F1 on the facts being learned (embedded 'new' set or --target-facts)",
        o => FromFacts(ProbeData.Facts(o.TargetFacts, ProbeOptions.DefaultTargetFacts)));

    /// <summary><c>known-facts-f1</c>: facts written into pretraining (the NQ analogue at this scale).</summary>
    public static QaF1Probe Known() => new("known-facts-f1", "F1 on facts known from pretraining (embedded 'known' set or --known-facts)",
        o => FromFacts(ProbeData.Facts(o.KnownFacts, ProbeOptions.DefaultKnownFacts)));

    /// <summary>Facts at the head of the stream that <c>first-facts-f1</c> follows.</summary>
    public const int FirstFacts = 100;

    /// <summary>
    /// <c>first-facts-f1</c>: the first <see cref="FirstFacts"/> facts of the stream (in stream order), for a retention curve
    /// along a long stream: measured right after they were learned and again after every later block of facts.
    /// </summary>
    public static QaF1Probe First() => new("first-facts-f1", $"F1 on the first {FirstFacts} facts of the stream (retention along a long stream)",
        o => FromFacts(ProbeData.Facts(o.TargetFacts, ProbeOptions.DefaultTargetFacts).Take(FirstFacts)));

    /// <summary>
    /// <c>transfer-f1</c>: the known facts of <see cref="TransferSplit.ProbeHalf"/>, which a base pretrained with
    /// <c>data.known_qa_fraction</c> ≤ 0.5 saw only as statements: how well it turns a statement into an answer.
    /// </summary>
    public static QaF1Probe Transfer() => new("transfer-f1", "F1 on the known facts pretrained as statements only (data.known_qa_fraction ≤ 0.5): knowledge extraction",
        o => FromFacts(TransferSplit.ProbeHalf(ProbeData.Facts(o.KnownFacts, ProbeOptions.DefaultKnownFacts))));

    /// <summary><c>nq-f1</c>: NaturalQuestions-open dev.</summary>
    public static QaF1Probe NaturalQuestions() => new("nq-f1", "F1 on NaturalQuestions-open dev (held-out knowledge)",
        o => NqOpen.Read(ProbeData.File(ProbeData.Benchmarks(o).NqOpenDev))
            .Select((q, i) => new QaItem($"nq-{i}", q.Question, q.Answers)).ToArray());

    /// <summary>Facts as QA items (aliases, else the object, as accepted answers).</summary>
    public static IReadOnlyList<QaItem> FromFacts(IEnumerable<Fact> facts) =>
        facts.Select(f => new QaItem(f.Id, f.Question, f.Aliases.Count > 0 && f.Aliases.Contains(f.Object) ? f.Aliases
            : [f.Object, .. f.Aliases])).ToArray();

    /// <inheritdoc/>
    public ProbeResult Run(LoadedModel model, ProbeOptions options)
    {
        var all = items(options);
        var subset = ProbeSubset.Take(all, options.Limit, options.Seed, Name);
        var prompts = subset.Select(q => QaFormat.Prompt(q.Question)).ToArray();
        var sampling = new SamplingOptions(MaxTokens: MaxAnswerTokens, Temperature: 0, StopAtEos: true, StopAtNewline: true);
        var predictions = TextGenerator.GenerateBatch(model.Model, model.Tokenizer, prompts, sampling, options.GenerateBatchSize);
        var nll = LikelihoodMetrics.AnswerScores(model.Model, model.Tokenizer,
            prompts.Select((p, i) => (p, subset[i].Answers[0])).ToArray(), options.BatchSize);
        var f1 = new double[subset.Count];
        var em = new double[subset.Count];
        List<JsonObject>? details = options.Details ? [] : null;
        for (int i = 0; i < subset.Count; i++)
        {
            string prediction = predictions[i].Trim();
            f1[i] = QaMetrics.F1(prediction, subset[i].Answers);
            em[i] = QaMetrics.ExactMatch(prediction, subset[i].Answers);
            details?.Add(new JsonObject
            {
                ["id"] = subset[i].Id, ["question"] = subset[i].Question, ["prediction"] = prediction,
                ["answer"] = subset[i].Answers[0], ["f1"] = f1[i], ["exact_match"] = em[i],
                ["answer_nll"] = nll[i].Nll, ["answer_tokens"] = nll[i].Tokens,
            });
        }
        var summary = NllSummary.From(nll);
        var extra = new Dictionary<string, double>
        {
            ["exact_match"] = Mean(em),
            // Graded or all-or-nothing: the share of items answered partly (0 < F1, not an exact match); the rest of
            // the non-exact items score F1 0.
            ["partial"] = Mean(f1.Select((v, i) => v > 0 && em[i] < 1 ? 1.0 : 0.0).ToArray()),
            ["answer_nll"] = summary.PerToken,
            ["answer_nll_per_item"] = summary.PerItem,
        };
        return new ProbeResult(Name, Metric, Mean(f1), subset.Count, 0, extra, details);
    }

    static double Mean(double[] v) => v.Length == 0 ? double.NaN : v.Average();
}
