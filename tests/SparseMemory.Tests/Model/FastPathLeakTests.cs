using SparseMemory.Config;
using SparseMemory.Model;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Model;

/// <summary>A training step with every fast path (chunked loss surrogate, the custom autograd function of the memory read) leaves no tensor behind.</summary>
public sealed class FastPathLeakTests(ITestOutputHelper output)
{
    [Fact]
    public void Training_steps_do_not_leak_tensors()
    {
        var cfg = new ModelConfig { VocabSize = 300, Dim = 32, Layers = 2, Heads = 2, FfnHidden = 64, MaxSeqLen = 32,
            Memory = new MemoryConfig { Layers = [1], NumKeys = 16, Heads = 2, TopK = 4, KeyDim = 16 } };
        torch.manual_seed(1);
        var m = new LanguageModel(cfg) { FastPaths = FastPaths.On };
        var opt = torch.optim.AdamW(m.parameters(), 1e-3);
        long[] counts = new long[40];
        for (int i = 0; i < 40; i++)
        {
            using (var scope = torch.NewDisposeScope())
            {
                var x = torch.randint(0, 300, [4, 17]);
                var l = m.ForwardLoss(x[.., ..16], x[.., 1..], null, null);
                l.backward();
                opt.step(); opt.zero_grad();
            }
            GC.Collect(); GC.WaitForPendingFinalizers();
            counts[i] = torch.Tensor.TotalCount;
        }
        output.WriteLine(string.Join(" ", counts));
        Assert.True(counts[^1] <= counts[10] + 2, $"tensor count grew: {counts[10]} → {counts[^1]}");
    }
}
