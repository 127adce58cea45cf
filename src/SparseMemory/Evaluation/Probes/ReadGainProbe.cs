using SparseMemory.Checkpoints;
using SparseMemory.Model;
using TorchSharp;

namespace SparseMemory.Evaluation.Probes;

/// <summary>
/// <c>read-gain</c>: the memory layers' mean read gain (<see cref="ReadGain"/>, docs/own-model.md#read-gain) on the
/// documents <c>heldout-nll</c> scores, each cut to <c>model.max_seq_len</c> tokens. It says how far a sparse-finetuning
/// step of a given learning rate moves the memory's output, so learning rates compare across models only at equal gain.
/// Extras: <c>layer_N</c> per memory block, <c>tokens</c>. Skipped for a model without memory.
/// </summary>
public sealed class ReadGainProbe : IProbe
{
    /// <inheritdoc/>
    public string Name => "read-gain";
    /// <inheritdoc/>
    public string Metric => "gain";
    /// <inheritdoc/>
    public bool HigherIsBetter => true;
    /// <inheritdoc/>
    public string Description => "Memory read gain: output movement of one SGD step on the value rows read, per unit lr (held-out documents)";

    /// <inheritdoc/>
    public ProbeResult Run(LoadedModel model, ProbeOptions options)
    {
        if (model.Model.MemoryValues is null) throw new ProbeSkippedException("the model has no memory layer");
        var docs = ProbeSubset.Take(NllProbe.HeldoutDocuments(model, options), options.Limit, options.Seed, Name);
        int max = model.Model.Config.MaxSeqLen;
        var device = model.Model.MemoryValues.device;
        var ids = docs.Select(d => model.Tokenizer.Encode(d)).Where(t => t.Length > 0).Select(t => t.Length > max ? t[..max] : t).ToArray();
        if (ids.Length == 0) throw new ProbeSkippedException("no held-out document has a token");
        IReadOnlyDictionary<int, double> perLayer;
        using (torch.NewDisposeScope())                                      // the token tensors made below
            perLayer = ReadGain.Measure(model.Model, ids.Select(t => torch.tensor(t.Select(i => (long)i).ToArray(), device: device).unsqueeze(0)));
        var extra = perLayer.OrderBy(kv => kv.Key).ToDictionary(kv => $"layer_{kv.Key}", kv => kv.Value);
        extra["tokens"] = ids.Sum(t => t.Length);
        return new ProbeResult(Name, Metric, ReadGain.Mean(perLayer), ids.Length, 0, extra);
    }
}
