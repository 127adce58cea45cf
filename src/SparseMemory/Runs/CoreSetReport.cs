using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Evaluation;
using SparseMemory.Finetuning;
using SparseMemory.Memory;
using SparseMemory.Model;
using SparseMemory.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Runs;

/// <summary>The core set of one fact and how much of it sparse memory finetuning trains.</summary>
/// <param name="FactId">The fact.</param>
/// <param name="Question">Its question.</param>
/// <param name="Answer">Its answer.</param>
/// <param name="Paraphrases">Paraphrases in its batch.</param>
/// <param name="UnionSlots">Distinct value rows read by any paraphrase.</param>
/// <param name="CoreSlots">Rows read by every paraphrase: the fact's core set.</param>
/// <param name="QuestionSlots">Rows read by the question prompt (<c>Question: …\nAnswer:</c>).</param>
/// <param name="CoreAlsoReadByQuestion">Core rows the question also reads: where a learned statement can reach the question.</param>
/// <param name="TCoveringCore">The t at which the TF-IDF selection of the batch first contains the whole core set (0 when it is empty).</param>
/// <param name="AnsweredAt">For each tried t, whether the fact is answered (F1 ≥ 0.5) after learning it alone from the base model.</param>
public sealed record CoreSetRow(string FactId, string Question, string Answer, int Paraphrases, int UnionSlots, int CoreSlots, int QuestionSlots,
    int CoreAlsoReadByQuestion, int TCoveringCore, IReadOnlyDictionary<int, bool> AnsweredAt)
{
    /// <summary>The smallest tried t at which the fact is answered, or null.</summary>
    public int? MinTAnswered => AnsweredAt.Where(kv => kv.Value).Select(kv => (int?)kv.Key).Min();
}

/// <summary>Settings of <see cref="CoreSetReport.Run"/>.</summary>
/// <param name="Facts">Facts sampled from the stream (the first ones after the seeded shuffle).</param>
/// <param name="TopTs">The t values tried when learning each fact alone.</param>
/// <param name="Steps">Steps per fact when learning it alone.</param>
public sealed record CoreSetOptions(int Facts = 10, int[]? TopTs = null, int Steps = 3)
{
    /// <summary>The t values tried.</summary>
    public int[] Ts => TopTs ?? [16, 64, 256, 1024];

    /// <summary>Every problem at once.</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (Facts <= 0) e.Add($"--facts must be ≥ 1, got {Facts}");
        if (Ts.Length == 0 || Ts.Any(t => t <= 0)) e.Add("--top-t: give positive integers, e.g. 16,64,256");
        if (Steps <= 0) e.Add($"--steps must be ≥ 1, got {Steps}");
        return e;
    }
}

/// <summary>
/// The core-set report (<c>smf coreset</c>): for sampled facts of a finetune config, which value rows every paraphrase
/// reads (the core set, the rows that carry the fact whatever the wording), how many of them the question reads, the t
/// at which the TF-IDF selection covers them, and the smallest t at which learning the fact alone (from the base model,
/// with the config's method settings) makes the model answer it.
/// </summary>
public static class CoreSetReport
{
    /// <summary>Writes one JSON line per fact (<see cref="ResultFile"/>).</summary>
    public static void Save(string path, IEnumerable<CoreSetRow> rows) => ResultFile.WriteLines(path, rows.Select(ResultFile.Node));

    /// <summary>Computes the report for the first <see cref="CoreSetOptions.Facts"/> facts of the config's stream.</summary>
    public static IReadOnlyList<CoreSetRow> Run(FinetuneConfig requested, CoreSetOptions options, Action<string>? progress = null)
    {
        if (options.Validate() is { Count: > 0 } problems) throw new ConfigException(string.Join("; ", problems));
        var (cfg, facts) = FinetuneRun.Resolve(requested with { Method = SparseMemoryMethod.Spec.Name });
        Runtime.Configure(cfg.Seed, cfg.Threads);
        var loaded = Checkpoint.Load(cfg.BaseModel);
        var model = loaded.Model;
        var values = model.MemoryValues ?? throw new ConfigException($"{cfg.BaseModel}: the model has no memory layer");
        var background = FinetuneMethods.LoadBackground(cfg, cfg.BaseModel);
        var data = FinetuneRun.Batches(cfg, facts, loaded.Tokenizer);
        var items = Items(cfg, facts, data);
        var ranker = SlotRankers.Create(cfg.Sparse.Ranker, 1, background, new RankerSettings(cfg.Seed, cfg.Sparse.ExcludeZeroIdf));
        long slots = values.shape[0];
        var original = values.detach().clone();
        var rows = new List<CoreSetRow>();
        foreach (var (fact, step) in items.Take(options.Facts))
        {
            var batch = data.Get(step);
            var log = new MemoryAccessLog();
            model.eval();
            using (torch.no_grad()) model.Forward(batch.Inputs, log, batch.ValidMask);
            var perRow = PerSequenceSlots(log, (int)batch.Inputs.shape[0]);
            var union = perRow.SelectMany(s => s).ToHashSet();
            var core = perRow.Skip(1).Aggregate(new HashSet<long>(perRow[0]), (acc, s) => { acc.IntersectWith(s); return acc; });
            var qLog = new MemoryAccessLog();
            var q = FactBatches.Pad([loaded.Tokenizer.Encode(QaFormat.Prompt(fact.Question))], loaded.Tokenizer, model.Config.MaxSeqLen);
            using (torch.no_grad()) model.Forward(q.Inputs, qLog, q.ValidMask);
            var question = PerSequenceSlots(qLog, 1)[0];
            var counts = SlotCounts.FromLog(log, slots);
            var ranked = ranker.Select(counts.Counts, background, (int)Math.Min(int.MaxValue, slots)).SlotIds;
            var position = ranked.Select((id, k) => (id, k)).ToDictionary(x => x.id, x => x.k);
            int covering = core.Count == 0 ? 0 : core.Max(id => position.TryGetValue(id, out int k) ? k + 1 : int.MaxValue);
            var answered = new SortedDictionary<int, bool>();
            foreach (int t in options.Ts)
            {
                answered[t] = LearnAloneAndAsk(loaded, cfg, background, data, step, options.Steps, t, fact);
                using (torch.no_grad()) values.copy_(original);
            }
            var row = new CoreSetRow(fact.Id, fact.Question, fact.Object, perRow.Count, union.Count, core.Count, question.Count,
                core.Count(question.Contains), covering, answered);
            rows.Add(row);
            progress?.Invoke($"{fact.Id}: core {row.CoreSlots} of {row.UnionSlots} rows, {row.CoreAlsoReadByQuestion} read by the question; answered from t = {row.MinTAnswered?.ToString() ?? "—"}");
        }
        return rows;
    }

    /// <summary>
    /// The facts to analyse and the first step of each: in the fact stream each fact at its own steps; in the document stream
    /// each chunk with a question it answers (one whose answer it contains, about its document when that is known), in
    /// stream order, each question once; chunks that answer none are left out.
    /// </summary>
    static IEnumerable<(Fact Fact, int Step)> Items(FinetuneConfig cfg, IReadOnlyList<Fact> facts, IBatchSource data)
    {
        if (data is not Data.Documents.DocumentStream docs)
        {
            for (int i = 0; i < facts.Count; i++) yield return (facts[i], i * cfg.Data.StepsPerItem);
            yield break;
        }
        var questions = FinetuneRun.DocumentSet(cfg).Questions;
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (int c = 0; c < docs.Chunks.Count; c++)
        {
            var chunk = docs.Chunks[c];
            var q = questions.FirstOrDefault(q => (q.DocumentId is null || q.DocumentId == chunk.DocumentId) && !used.Contains(q.Fact.Id)
                && q.Fact.Aliases.Any(a => chunk.Text.Contains(a, StringComparison.OrdinalIgnoreCase)));
            if (q is null) continue;
            used.Add(q.Fact.Id);
            yield return (q.Fact, c * cfg.Data.StepsPerItem);
        }
    }

    /// <summary>Per sequence of the batch, the value rows read at its valid positions (all memory layers).</summary>
    static List<HashSet<long>> PerSequenceSlots(MemoryAccessLog log, int sequences)
    {
        var sets = Enumerable.Range(0, sequences).Select(_ => new HashSet<long>()).ToList();
        foreach (var a in log.Accesses)
        {
            long b = a.Indices.shape[0], t = a.Indices.shape[1], hk = a.Indices.shape[2];
            var ids = a.Indices.contiguous().data<long>().ToArray();
            var valid = a.ValidMask?.contiguous().data<bool>().ToArray();
            for (long s = 0; s < b; s++)
                for (long p = 0; p < t; p++)
                {
                    if (valid is not null && !valid[s * t + p]) continue;
                    for (long k = 0; k < hk; k++) sets[(int)s].Add(ids[(s * t + p) * hk + k]);
                }
        }
        return sets;
    }

    /// <summary>Learns one fact alone at top-t <paramref name="t"/> (the batches of its steps) and asks its question greedily.</summary>
    static bool LearnAloneAndAsk(LoadedModel loaded, FinetuneConfig cfg, BackgroundStats? background, IBatchSource data, int firstStep, int steps, int t, Fact fact)
    {
        var model = loaded.Model;
        var c = cfg with { Sparse = cfg.Sparse with { TopT = t } };
        var method = FinetuneMethods.Create(c, background);
        try
        {
            // The training step of smf finetune (docs/architecture.md): forward, backward, row selection, the divergence checks, the update.
            var step = new TrainStep(model, method, FinetuneMethods.Loop(c, steps));
            for (int s = 0; s < steps; s++)
            {
                using var scope = torch.NewDisposeScope();
                step.SetLearningRates(s);
                step.Run(s, data.Get(firstStep + s % Math.Max(1, cfg.Data.StepsPerItem)));
            }
            model.eval();
            var sampling = new SamplingOptions(MaxTokens: 12, Temperature: 0, StopAtEos: true, StopAtNewline: true);
            string answer = TextGenerator.Generate(model, loaded.Tokenizer, QaFormat.Prompt(fact.Question), sampling);
            return QaMetrics.F1(answer, fact.Aliases) >= 0.5;
        }
        finally { (method as IDisposable)?.Dispose(); }
    }
}
