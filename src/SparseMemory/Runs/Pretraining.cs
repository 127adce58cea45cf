using SparseMemory.Finetuning;
using SparseMemory.Training;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Model;
using SparseMemory.Reporting;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Runs;

/// <summary>Summary of a finished pretraining run (also written as <c>summary.json</c>).</summary>
public sealed record PretrainSummary(int Steps, double InitialEvalLoss, double FinalEvalLoss, long TrainTokens, long Parameters, long MemorySlots, double Seconds);

/// <summary>
/// <c>smf pretrain</c>: reads the corpus, trains (or reloads) the tokenizer, builds the memory-layer model from the
/// seed and trains it with AdamW (values in their own group) in a run folder that doubles as the checkpoint.
/// Re-running on an existing folder resumes it, or reports that it is complete.
/// </summary>
public static class Pretraining
{
    /// <summary>Runs or resumes pretraining into <paramref name="runDir"/>.</summary>
    public static PretrainSummary Run(PretrainConfig requested, string runDir, ITrainingObserver observer)
    {
        var recipeProblems = FinetuneRecipe.Problems(requested.Finetune);
        if (recipeProblems.Count > 0) throw new ConfigException("invalid config:\n  " + string.Join("\n  ", recipeProblems));
        // A new run reads its corpus before the folder is created, so a missing or corrupt input leaves no folder behind.
        var docs = File.Exists(Path.Combine(runDir, Checkpoint.ConfigFile)) ? null : ReadCorpus(requested, observer);
        var (cfg, done) = RunFolder.Open<PretrainConfig, PretrainSummary>(requested, runDir, observer.OnMessage);
        if (done is not null) return done;
        Runtime.Configure(cfg.Seed, cfg.Threads);
        var device = Runtime.Device(cfg.Device);
        var started = DateTime.UtcNow;

        docs ??= ReadCorpus(cfg, observer);
        string tokPath = Path.Combine(runDir, Checkpoint.TokenizerFile);
        ByteLevelBpeTokenizer tokenizer;
        if (File.Exists(tokPath)) tokenizer = ByteLevelBpeTokenizer.Load(tokPath);
        else
        {
            observer.OnMessage($"training a {cfg.Model.VocabSize}-entry byte-level BPE tokenizer …");
            tokenizer = ByteLevelBpeTokenizer.Train(CorpusLoader.TokenizerText(docs, cfg.Data), cfg.Model.VocabSize);
            tokenizer.SaveTokenizer(tokPath);
        }
        if (tokenizer.VocabSize > cfg.Model.VocabSize)
            throw new InvalidDataException($"{tokPath}: has {tokenizer.VocabSize} entries but model.vocab_size is {cfg.Model.VocabSize}");

        var data = new PretrainData(docs, tokenizer, cfg.Data, cfg.Train, cfg.Seed);
        observer.OnMessage($"corpus: {docs.Count} documents, {data.TrainTokens:N0} train tokens, {data.HeldoutTokens:N0} held-out tokens");
        torch.manual_seed(cfg.Seed);
        var model = new LanguageModel(cfg.Model);
        model.to(device);
        long nParams = model.parameters().Sum(p => p.numel());
        observer.OnMessage($"model: {nParams:N0} parameters ({model.MemoryValues?.numel() ?? 0:N0} memory values, {cfg.Model.Memory?.Slots ?? 0:N0} slots)");

        var t = cfg.Train;
        using var method = new FullTraining(t.Lr, t.WeightDecay, t.ValueLr, t.ValueWeightDecay, LrSchedule.WarmupCosine,
            lazyValues: ValueUpdates.IsLazy(t.ValueUpdate));
        double firstEval = double.NaN, lastEval = double.NaN;
        var trainer = new Trainer(model, method, data, LoopSettings.From(t), device, observer)
        {
            Evaluate = step =>
            {
                double l = HeldoutLoss(model, data, t.EvalBatches, device);
                if (step == 0) firstEval = l;
                lastEval = l;
                return new Dictionary<string, double> { ["eval_loss"] = l };
            },
        };
        var state = trainer.Run(runDir);
        if (double.IsNaN(lastEval)) lastEval = HeldoutLoss(model, data, t.EvalBatches, device);
        if (double.IsNaN(firstEval)) firstEval = ReadFirstEval(runDir) ?? double.NaN;
        var summary = new PretrainSummary(state.Step, firstEval, lastEval, state.Tokens, nParams, cfg.Model.Memory?.Slots ?? 0,
            (DateTime.UtcNow - started).TotalSeconds);
        RunFolder.WriteSummary(runDir, summary);
        return summary;
    }

    static IReadOnlyList<string> ReadCorpus(PretrainConfig cfg, ITrainingObserver observer)
    {
        observer.OnMessage("reading corpus …");
        return CorpusLoader.Load(cfg.Data, cfg.Seed);
    }

    /// <summary>Mean loss over the fixed held-out batches.</summary>
    public static double HeldoutLoss(LanguageModel model, PretrainData data, int batches, Device device)
    {
        using var _ = torch.no_grad();
        model.eval();
        double sum = 0;
        for (int i = 0; i < batches; i++)
        {
            using var scope = torch.NewDisposeScope();
            var b = data.Heldout(i);
            sum += model.ForwardLoss(b.Inputs.to(device), b.Targets.to(device), null, null).item<float>();
        }
        return sum / batches;
    }

    static double? ReadFirstEval(string runDir)
    {
        string p = Path.Combine(runDir, Checkpoint.MetricsFile);
        return File.Exists(p) ? ResultFiles.ReadMetrics(p).First("eval_loss")?.Value : null;
    }
}
