using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Finetuning;
using SparseMemory.Memory;
using SparseMemory.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>One method's measured step time.</summary>
public sealed record StepTiming(string Method, double MillisecondsPerStep, int TimedSteps);

/// <summary>
/// Times optimizer steps of each finetuning method on the same model and the same batches, through the real
/// <see cref="Trainer"/> (so every cost — forward, backward, ranking, masking, update — is included). Ratios measured
/// in one run are what to compare; absolute times depend on the machine.
/// </summary>
public static class StepBenchmark
{
    /// <summary>Runs the benchmark; <paramref name="batchSize"/> × <paramref name="seqLen"/> random-token batches.</summary>
    public static IReadOnlyList<StepTiming> Run(ModelConfig modelConfig, int batchSize, int seqLen, int warmupSteps, int timedSteps, int topT, int seed = 1)
    {
        var data = new RandomBatches(modelConfig.VocabSize, batchSize, seqLen, seed);
        var results = new List<StepTiming>();
        foreach (var (name, make) in Methods(modelConfig, data, topT, seed))
        {
            torch.manual_seed(seed);
            var model = new LanguageModel(modelConfig);
            var method = make(model);
            var times = new List<TimeSpan>();
            var observer = new Recorder(times);
            string dir = Path.Combine(Path.GetTempPath(), "smf-bench", Guid.NewGuid().ToString("N"));
            int steps = warmupSteps + timedSteps;
            var trainer = new Trainer(model, method, data, new LoopSettings(steps, 0, 1, 0, steps, steps, steps * 10), torch.CPU, observer);
            trainer.Run(dir);
            (method as IDisposable)?.Dispose();
            Directory.Delete(dir, recursive: true);
            double ms = (times[^1] - times[warmupSteps - 1]).TotalMilliseconds / timedSteps;
            results.Add(new StepTiming(name, ms, timedSteps));
        }
        return results;
    }

    static IEnumerable<(string, Func<LanguageModel, ITrainingMethod>)> Methods(ModelConfig cfg, RandomBatches data, int topT, int seed)
    {
        yield return ("full (AdamW)", _ => new FullTraining(1e-5, 0.1, 1e-5, 0.1, LrSchedule.Constant));
        yield return ("lora r=8 (AdamW)", _ => new LoraMethod(8, 16, LoraTargets.All, 1e-4, 0.0));
        if (cfg.Memory is null) yield break;
        yield return ($"sparse t={topT} (SGD, TF-IDF)", m => new SparseMemoryMethod(new SparseMemoryOptions(topT, SlotRankerKind.TfIdf, SparseOptimizer.Sgd, 1.0), Background(m, data)));
        yield return ($"sparse t={topT} (AdamW, TF-IDF)", m => new SparseMemoryMethod(new SparseMemoryOptions(topT, SlotRankerKind.TfIdf, SparseOptimizer.AdamW, 1e-3), Background(m, data)));
    }

    /// <summary>Background statistics from 20 of the same random batches (timing only; not meaningful statistics).</summary>
    static BackgroundStats Background(LanguageModel model, RandomBatches data)
    {
        var stats = new BackgroundStats(model.MemoryValues!.shape[0], "benchmark");
        BackgroundStatsBuilder.Accumulate(stats, model, new OffsetSource(data, 1000), 20);
        return stats;
    }

    sealed class OffsetSource(IBatchSource inner, int offset) : IBatchSource
    {
        public TrainingBatch Get(int step) => inner.Get(step + offset);
    }

    sealed class RandomBatches(int vocab, int b, int t, int seed) : IBatchSource
    {
        public TrainingBatch Get(int step)
        {
            var g = new torch.Generator((ulong)SeedMix.Mix(seed, step));
            var x = torch.randint(0, vocab - 2, [b, t + 1], generator: g);
            return new TrainingBatch(x[.., ..t], x[.., 1..], null);
        }
    }

    sealed class Recorder(List<TimeSpan> times) : ITrainingObserver
    {
        public void OnStep(StepReport r) => times.Add(r.Elapsed);
        public void OnEval(int step, IReadOnlyDictionary<string, double> metrics) { }
        public void OnMessage(string message) { }
    }
}
