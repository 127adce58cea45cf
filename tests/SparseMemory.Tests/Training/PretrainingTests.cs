using SparseMemory.Runs;
using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Model;
using SparseMemory.Training;
using TorchSharp;
using Xunit;

namespace SparseMemory.Tests.Training;

public sealed class PretrainingTests
{
    static double[] Losses(string dir) => File.ReadAllLines(Path.Combine(dir, "metrics.jsonl"))
        .Select(l => JsonNode.Parse(l)!).Select(n => n["loss"]!.GetValue<double>()).ToArray();

    [Fact]
    public void Same_seed_gives_identical_loss_curve_and_loss_falls()
    {
        string root = Fixtures.TempDir("pre");
        var cfg = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 30);
        var s1 = Pretraining.Run(cfg, Path.Combine(root, "a"), NullObserver.Instance);
        Pretraining.Run(cfg, Path.Combine(root, "b"), NullObserver.Instance);
        Assert.Equal(Losses(Path.Combine(root, "a")), Losses(Path.Combine(root, "b")));
        Assert.True(s1.FinalEvalLoss < s1.InitialEvalLoss, $"held-out loss did not fall: {s1.InitialEvalLoss} → {s1.FinalEvalLoss}");
        foreach (string f in new[] { "model.safetensors", "config.json", "tokenizer.json", "metrics.jsonl", "summary.json" })
            Assert.True(File.Exists(Path.Combine(root, "a", f)), f);
    }

    sealed class CrashAfter(int step) : ITrainingObserver
    {
        public void OnStep(StepReport r) { if (r.Step == step) throw new OperationCanceledException("simulated crash"); }
        public void OnEval(int s, IReadOnlyDictionary<string, double> m) { }
        public void OnMessage(string m) { }
    }

    [Theory]
    [InlineData("lazy")]      // the default: optimizer.bin holds the row state and the dense groups' AdamW state
    [InlineData("dense")]
    public void Resume_after_a_crash_continues_with_identical_losses(string valueUpdate)
    {
        string root = Fixtures.TempDir("resume");
        var tiny = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 12);
        var cfg = tiny with { Train = tiny.Train with { ValueUpdate = valueUpdate } };
        Pretraining.Run(cfg, Path.Combine(root, "full"), NullObserver.Instance);
        string crashed = Path.Combine(root, "crashed");
        Assert.Throws<OperationCanceledException>(() => Pretraining.Run(cfg, crashed, new CrashAfter(6)));   // last checkpoint: step 4
        Pretraining.Run(cfg, crashed, NullObserver.Instance);
        Assert.Equal(Losses(Path.Combine(root, "full")), Losses(crashed));
        var a = Checkpoint.Load(Path.Combine(root, "full"));
        var b = Checkpoint.Load(crashed);
        var x = torch.randint(0, 300, [1, 8], generator: new torch.Generator(1));
        TensorAssert.Identical(a.Model.forward(x), b.Model.forward(x));
        foreach (string f in new[] { Checkpoint.ModelFile, Checkpoint.OptimizerFile })     // weights and optimizer state, byte for byte
            Assert.True(File.ReadAllBytes(Path.Combine(root, "full", f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(crashed, f))), f);
    }

    [Fact]
    public void Generation_is_deterministic_and_greedy_matches_argmax()
    {
        string root = Fixtures.TempDir("gen");
        var cfg = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 8);
        Pretraining.Run(cfg, Path.Combine(root, "m"), NullObserver.Instance);
        var m = Checkpoint.Load(Path.Combine(root, "m"));
        var opts = new SamplingOptions(MaxTokens: 6, StopAtEos: false);
        string one = TextGenerator.Generate(m.Model, m.Tokenizer, "Ada lives in", opts);
        var batch = TextGenerator.GenerateBatch(m.Model, m.Tokenizer, ["Ada lives in", "Gus works", "Ada lives in"], opts);
        Assert.Equal(one, batch[0]);
        Assert.Equal(one, batch[2]);
        var sampled1 = TextGenerator.Generate(m.Model, m.Tokenizer, "Ada", opts with { Temperature = 1.0, TopP = 0.9, Seed = 4 });
        var sampled2 = TextGenerator.Generate(m.Model, m.Tokenizer, "Ada", opts with { Temperature = 1.0, TopP = 0.9, Seed = 4 });
        Assert.Equal(sampled1, sampled2);
    }
}
