using SparseMemory.Config;
using SparseMemory.Memory;
using SparseMemory.Model;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Model;

/// <summary>
/// <see cref="ReadGain"/> (docs/own-model.md#read-gain): the vectorised gain against its definition computed token by
/// token in float64, the rebalance keeping the function and dividing the gain by scale², and the property that makes
/// the gain worth stating: a plain-SGD step on value rows at lr·scale² after a rebalance by scale moves the logits as
/// a step at lr did before it.
/// </summary>
public sealed class ReadGainTests
{
    static ModelConfig Config(bool gated = true, bool parallel = false) => new()
    {
        VocabSize = 290, Dim = 24, Layers = 2, Heads = 2, FfnHidden = 40, MaxSeqLen = 32, InitStd = 0.2,
        Memory = new MemoryConfig { Layers = [0, 1], NumKeys = 6, Heads = 2, TopK = 3, KeyDim = 8, Gated = gated, Parallel = parallel },
    };

    static LanguageModel Build(ModelConfig cfg, int seed)
    {
        torch.manual_seed(seed);
        var m = new LanguageModel(cfg);
        m.to(ScalarType.Float64);
        return m;
    }

    static Tensor Tokens(int seed) => torch.randint(0, 290, [3, 9], generator: new torch.Generator((ulong)seed));

    /// <summary>The definition, one token at a time: (Σ_j w_j²)·‖W2·diag(g)‖²_F / D, averaged over real tokens.</summary>
    static double Reference(MemoryAccess a, Tensor w2)
    {
        var w = a.Weights.to(ScalarType.Float64);
        var W2 = w2.detach().to(ScalarType.Float64);
        long b = w.shape[0], t = w.shape[1], d = W2.shape[0];
        double sum = 0; long n = 0;
        for (long i = 0; i < b; i++)
            for (long k = 0; k < t; k++)
            {
                if (a.ValidMask is not null && !a.ValidMask[i, k].item<bool>()) continue;
                double sw2 = 0;
                for (long j = 0; j < w.shape[2]; j++) { double x = w[i, k, j].item<double>(); sw2 += x * x; }
                var J = a.Gate is null ? W2 : W2 * a.Gate[i, k].to(ScalarType.Float64).unsqueeze(0);   // W2·diag(g)
                double fro = 0;
                for (long r = 0; r < J.shape[0]; r++)
                    for (long c = 0; c < J.shape[1]; c++) { double x = J[r, c].item<double>(); fro += x * x; }
                sum += sw2 * fro / d; n++;
            }
        return sum / n;
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Gain_equals_its_definition_token_by_token(bool gated, bool padded)
    {
        using var scope = torch.NewDisposeScope();
        var m = Build(Config(gated), 3);
        var log = new MemoryAccessLog();
        Tensor? valid = null;
        if (padded)
        {
            valid = torch.ones([3, 9], ScalarType.Bool);
            valid[0, 5..] = torch.tensor(false);
            valid[2, 1..] = torch.tensor(false);
        }
        using (torch.no_grad()) m.Forward(Tokens(4), log, valid);
        Assert.Equal(2, log.Accesses.Count);
        foreach (var a in log.Accesses)
        {
            Assert.Equal(gated, a.Gate is not null);
            var w2 = m.Blocks[a.Layer].Memory!.OutProjectionWeight;
            var (sum, tokens) = ReadGain.Of(a, w2);
            Assert.Equal(padded ? 3 * 9 - 4 - 8 : 27, tokens);
            double expected = Reference(a, w2);
            Assert.True(expected > 0);
            Assert.True(Math.Abs(sum / tokens - expected) <= 1e-12 * expected, $"layer {a.Layer}: {sum / tokens:R} vs {expected:R}");
        }
    }

    [Fact]
    public void Rebalance_keeps_the_logits_and_divides_the_gain_by_the_scale_squared()
    {
        using var scope = torch.NewDisposeScope();
        var m = Build(Config(parallel: true), 5);
        var x = Tokens(6);
        Tensor before;
        using (torch.no_grad()) before = m.forward(x).clone();
        double g0 = ReadGain.Mean(ReadGain.Measure(m, [x]));
        ReadGain.Rebalance(m, 0.1);
        Tensor after;
        using (torch.no_grad()) after = m.forward(x);
        double d = (after - before).abs().max().item<double>();
        Assert.True(d < 1e-12, $"logits moved by {d:G3}");
        double g1 = ReadGain.Mean(ReadGain.Measure(m, [x]));
        Assert.True(Math.Abs(g1 - g0 / 0.01) <= 1e-9 * g1, $"gain {g0:G6} → {g1:G6}, expected × 100");
        Assert.Equal(10, ReadGain.ScaleFor(g1, g0), 9);                                  // the scale that brings it back
        Assert.Throws<ArgumentOutOfRangeException>(() => ReadGain.Rebalance(m, 0));
    }

    /// <summary>
    /// The value table stepped by plain SGD on ∂loss/∂V (only the rows read move): after a rebalance by s (gain × 1/s²)
    /// a step at lr·s² gives the logits a step at lr gave before it, so gain × lr is what a step does. At the unchanged
    /// lr the logits differ.
    /// </summary>
    [Fact]
    public void A_step_at_lr_times_scale_squared_after_a_rebalance_moves_the_logits_as_before()
    {
        using var scope = torch.NewDisposeScope();
        var x = Tokens(7);
        var targets = Tokens(8);
        Tensor Stepped(double scale, double lr)
        {
            var m = Build(Config(), 9);
            if (scale != 1) ReadGain.Rebalance(m, scale);
            foreach (var p in m.parameters()) p.requires_grad_(false);
            m.MemoryValues!.requires_grad_(true);
            var loss = LanguageModel.Loss(m.forward(x), targets);
            loss.backward();
            using (torch.no_grad())
            {
                m.MemoryValues.sub_(m.MemoryValues.grad!.mul(lr));
                return m.forward(x).detach().clone();
            }
        }
        var plain = Stepped(1, 2.0);
        var rebalanced = Stepped(0.25, 2.0 * 0.25 * 0.25);
        var naive = Stepped(0.25, 2.0);
        var moved = (plain - Build(Config(), 9).forward(x).detach()).abs().max().item<double>();
        Assert.True(moved > 1e-3, $"the step barely moved the logits ({moved:G3})");
        Assert.True((plain - rebalanced).abs().max().item<double>() < 1e-10 * Math.Max(1, moved));
        Assert.True((plain - naive).abs().max().item<double>() > 0.1 * moved);
    }
}
