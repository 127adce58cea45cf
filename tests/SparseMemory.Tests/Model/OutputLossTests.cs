using SparseMemory.Config;
using SparseMemory.Memory;
using SparseMemory.Model;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Model;

/// <summary>
/// <see cref="OutputLoss.Chunked"/> (through <see cref="LanguageModel.ForwardLoss"/>) against the plain
/// <c>Loss(Forward(…))</c>: loss and every gradient in float64 (docs/architecture.md#a-cheaper-training-step).
/// </summary>
public sealed class OutputLossTests
{
    static ModelConfig Config(bool tied) => new()
    {
        VocabSize = 290, Dim = 24, Layers = 2, Heads = 2, FfnHidden = 40, MaxSeqLen = 32, InitStd = 0.2, TieEmbeddings = tied,
        Memory = new MemoryConfig { Layers = [1], NumKeys = 6, Heads = 2, TopK = 3, KeyDim = 8 },
    };

    static LanguageModel Build(bool tied, int seed)
    {
        torch.manual_seed(seed);
        var m = new LanguageModel(Config(tied));
        m.to(ScalarType.Float64);
        return m;
    }

    /// <summary>Random tokens [3, 9]; targets are the next tokens, with right padding (−1) in two rows when asked.</summary>
    static (Tensor Inputs, Tensor Targets, Tensor? Valid) Batch(int seed, bool padded)
    {
        var g = new torch.Generator((ulong)seed);
        var x = torch.randint(0, 290, [3, 10], generator: g);
        var inputs = x[.., ..9];
        var targets = x[.., 1..].clone();
        if (!padded) return (inputs, targets, null);
        var valid = torch.ones([3, 9], ScalarType.Bool);
        valid[0, 6..] = torch.tensor(false);
        valid[2, 2..] = torch.tensor(false);
        targets.masked_fill_(valid.logical_not(), -1);
        return (inputs, targets, valid);
    }

    static Dictionary<string, Tensor> Grads(LanguageModel m) =>
        m.named_parameters().Where(p => p.parameter.grad is not null).ToDictionary(p => p.name, p => p.parameter.grad!.clone());

    static void AssertClose(double expected, double actual, double tol, string what) =>
        Assert.True(Math.Abs(expected - actual) <= tol * Math.Max(1, Math.Abs(expected)), $"{what}: {expected:R} vs {actual:R}");

    static void AssertGradsClose(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual, double tol)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, e) in expected)
        {
            double scale = Math.Max(1e-3, e.abs().max().to(ScalarType.Float64).item<double>());
            double d = (e - actual[name]).abs().max().to(ScalarType.Float64).item<double>();
            Assert.True(d <= tol * scale, $"{name}: max |Δ grad| {d:G3} (max |grad| {scale:G3})");
        }
    }

    [Theory]
    [InlineData(true, false, 512, 1)]
    [InlineData(true, true, 4, 2)]       // chunks of 4 rows: several chunks, the last one short
    [InlineData(false, true, 7, 3)]      // untied output projection
    [InlineData(false, false, 1, 4)]
    public void Chunked_loss_and_every_gradient_equal_the_plain_path_in_float64(bool tied, bool padded, int chunk, int seed)
    {
        var (x, y, valid) = Batch(seed, padded);
        var m = Build(tied, seed);
        var plain = LanguageModel.Loss(m.Forward(x, null, valid), y);
        plain.backward();
        var expected = Grads(m);
        m.zero_grad();
        var h = m.ForwardLoss(x, y, null, valid);          // the model path with the default chunk …
        AssertClose(plain.item<double>(), h.item<double>(), 1e-12, "loss (ForwardLoss)");
        h.backward();
        AssertGradsClose(expected, Grads(m), 1e-10);
        m.zero_grad();
        // … and the kernel itself with a small chunk, through an upstream gradient of 2.5 (the result is linear in it).
        var weight = tied ? m.named_parameters().First(p => p.name == "tok_embeddings.weight").parameter
            : m.named_parameters().First(p => p.name == "output.weight").parameter;
        var chunked = OutputLoss.Chunked(m.Hidden(x, null, valid), weight, y, chunk);
        AssertClose(plain.item<double>(), chunked.item<double>(), 1e-12, $"loss (chunk {chunk})");
        (chunked * 2.5).backward();
        AssertGradsClose(expected.ToDictionary(kv => kv.Key, kv => kv.Value * 2.5), Grads(m), 1e-10);
    }

    [Fact]
    public void Frozen_weights_sparse_reads_and_no_grad_match_too()
    {
        var (x, y, valid) = Batch(5, padded: true);
        // Sparse finetuning: every parameter frozen, the memory reads captured as leaves; only the hidden path needs grad.
        var m = Build(true, 5);
        foreach (var p in m.parameters()) p.requires_grad = false;
        m.CaptureValueReads = true;
        var log = new MemoryAccessLog();
        var plain = LanguageModel.Loss(m.Forward(x, log, valid), y);
        plain.backward();
        var expected = log.Accesses.Single().Read!.grad!.clone();
        log.Clear();
        var fused = m.ForwardLoss(x, y, log, valid);
        AssertClose(plain.item<double>(), fused.item<double>(), 1e-12, "loss");
        fused.backward();
        double d = (expected - log.Accesses.Single().Read!.grad!).abs().max().item<double>();
        Assert.True(d <= 1e-10 * Math.Max(1e-3, expected.abs().max().item<double>()), $"∂L/∂(memory read): max |Δ| {d:G3}");
        Assert.All(m.parameters(), p => Assert.Null(p.grad));
        // No grad at all (evaluation): the value only.
        using (torch.no_grad())
        {
            var v = m.ForwardLoss(x, y, null, valid);
            Assert.False(v.requires_grad);
            AssertClose(plain.item<double>(), v.item<double>(), 1e-12, "loss under no_grad");
        }
        // Every target ignored: NaN, as cross_entropy gives.
        using (torch.no_grad())
            Assert.True(double.IsNaN(m.ForwardLoss(x, torch.full([3, 9], -1L), null, null).item<double>()));
    }

    [Fact]
    public void Float32_model_agrees_with_the_plain_path()
    {
        var (x, y, valid) = Batch(9, padded: true);
        torch.manual_seed(9);
        var m = new LanguageModel(Config(true));
        var plain = LanguageModel.Loss(m.Forward(x, null, valid), y);
        plain.backward();
        var expected = Grads(m);
        m.zero_grad();
        var fused = m.ForwardLoss(x, y, null, valid);
        AssertClose(plain.item<float>(), fused.item<float>(), 1e-5, "loss");
        fused.backward();
        AssertGradsClose(expected, Grads(m), 1e-4);
    }
}
