using TorchSharp;
using Xunit;

namespace SparseMemory.Tests;

public sealed class SmokeTests
{
    [Fact]
    public void Torch_loads() => Assert.Equal(3f, torch.ones(3).sum().item<float>());
}
