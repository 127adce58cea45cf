using SparseMemory.Config;
using static TorchSharp.torch;

namespace SparseMemory.Model;

/// <summary>
/// The torch dtypes behind <see cref="ModelConfig.Dtype"/>, and where half precision is widened. A bfloat16 or float16
/// model keeps its weights, activations and KV cache in that dtype; the RMSNorm statistics, the rotary rotation,
/// attention scores and softmax, the logits and the loss are computed in float32 and, where the result flows on, cast
/// back (docs/own-model.md#kept-dtypes). A float32 model never takes these branches, so it computes exactly as before
/// they existed.
/// </summary>
public static class ModelDtypes
{
    /// <summary>The torch dtype of a <see cref="ModelConfig.Dtype"/> value.</summary>
    public static ScalarType Of(string dtype) => dtype switch
    {
        ModelConfig.Float32 => ScalarType.Float32,
        "bfloat16" => ScalarType.BFloat16,
        "float16" => ScalarType.Float16,
        _ => throw new ArgumentException($"model.dtype is \"{dtype}\"; allowed: {string.Join(", ", ModelConfig.Dtypes)}"),
    };

    /// <summary>The <see cref="ModelConfig.Dtype"/> name of a torch dtype (PyTorch's spelling), e.g. bfloat16.</summary>
    public static string NameOf(ScalarType type) => type switch
    {
        ScalarType.Float32 => ModelConfig.Float32,
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        ScalarType.Float64 => "float64",
        _ => type.ToString().ToLowerInvariant(),
    };

    /// <summary>Whether <paramref name="type"/> is a 16-bit float (computed through float32 at the sensitive points).</summary>
    public static bool IsHalf(ScalarType type) => type is ScalarType.BFloat16 or ScalarType.Float16;

    /// <summary>The dtype the sensitive steps compute in: float32 for a 16-bit float, the dtype itself otherwise.</summary>
    public static ScalarType ComputeType(ScalarType type) => IsHalf(type) ? ScalarType.Float32 : type;
}
