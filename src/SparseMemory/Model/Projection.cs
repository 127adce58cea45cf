using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Model;

/// <summary>
/// A linear map y = x Wᵀ (W: [out, in]), bias-free unless asked for (imported Qwen2 models: y = x Wᵀ + b), used for
/// every attention and FFN matrix. It is its own type so
/// finetuning methods can attach a low-rank adapter by composition (<see cref="Adapter"/>) without model surgery.
/// </summary>
public sealed class Projection : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight;
    readonly Parameter? bias;           // registered (state-dict name "bias") only when the projection has one

    /// <summary>Optional adapter whose output is added to the base projection (e.g. LoRA).</summary>
    public nn.Module<Tensor, Tensor>? Adapter { get; private set; }

    /// <summary>
    /// Creates an [outFeatures, inFeatures] projection initialised N(0, std²), with a zero bias when
    /// <paramref name="hasBias"/>, in <paramref name="dtype"/>.
    /// </summary>
    public Projection(int inFeatures, int outFeatures, double std, bool hasBias = false, ScalarType dtype = ScalarType.Float32) : base(nameof(Projection))
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        weight = nn.Parameter(torch.empty([outFeatures, inFeatures], dtype));
        using (torch.no_grad()) nn.init.normal_(weight, 0, std);
        if (hasBias) bias = nn.Parameter(torch.zeros([outFeatures], dtype));
        RegisterComponents();
    }

    /// <summary>Input features.</summary>
    public int InFeatures { get; }
    /// <summary>Output features.</summary>
    public int OutFeatures { get; }
    /// <summary>The base weight [out, in].</summary>
    public Parameter Weight => weight;
    /// <summary>The bias [out], or null.</summary>
    public Parameter? Bias => bias;

    /// <summary>Attaches an adapter, registered under the name <c>adapter</c> (once per projection).</summary>
    public void AttachAdapter(nn.Module<Tensor, Tensor> adapter)
    {
        if (Adapter is not null) throw new InvalidOperationException("this projection already has an adapter");
        Adapter = adapter;
        register_module("adapter", adapter);
    }

    /// <summary>Removes the adapter (and its <c>adapter.*</c> state-dict entries); returns it, or null when there was none.</summary>
    public nn.Module<Tensor, Tensor>? DetachAdapter()
    {
        var detached = Adapter;
        if (detached is null) return null;
        register_module("adapter", null!);          // TorchSharp: registering null unregisters the name
        Adapter = null;
        return detached;
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        var y = bias is null ? F.linear(x, weight) : F.linear(x, weight, bias);
        return Adapter is null ? y : y + Adapter.forward(x);
    }
}
