using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Finetuning;

/// <summary>Raw lookups of one memory layer for one batch: ids [B, T, H*K] row-major and a valid mask [B, T].</summary>
internal sealed record RawLayerBatch(int B, int T, int HK, long[] Ids, bool[] Valid)
{
    public (Tensor Indices, Tensor ValidMask) ToTensors() =>
        (torch.tensor(Ids).reshape(B, T, HK), torch.tensor(Valid).reshape(B, T));
}
