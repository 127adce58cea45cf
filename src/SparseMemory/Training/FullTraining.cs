using SparseMemory.Model;
using TorchSharp.Modules;

namespace SparseMemory.Training;

/// <summary>
/// Every parameter trains with AdamW (pretraining, and the full-finetuning baseline). Groups: the memory value
/// table at its own fixed lr (Berges et al.: 1e-3, clipped separately), matrices with weight decay, and 1-D
/// parameters (norm gains, biases) without decay.
/// </summary>
public sealed class FullTraining(double lr, double weightDecay, double valueLr, double valueWeightDecay, LrSchedule schedule,
    LrSchedule valueSchedule = LrSchedule.Constant) : ITrainingMethod
{
    /// <summary>State-dict name of the memory value table.</summary>
    const string ValueTable = "memory_values.weight";

    /// <inheritdoc/>
    public string Name => "full";

    /// <inheritdoc/>
    public void Prepare(LanguageModel model)
    {
        foreach (var p in model.parameters()) p.requires_grad = true;
    }

    /// <inheritdoc/>
    public IReadOnlyList<ParamGroupSpec> ParameterGroups(LanguageModel model)
    {
        // By name: TorchSharp hands out a new Parameter wrapper (with its own handle) on every access, so reference
        // equality with model.MemoryValues never holds (it put the table in the decay group too: stepped twice a step).
        var named = model.named_parameters().ToList();
        var values = named.Where(p => p.name == ValueTable).Select(p => p.parameter).SingleOrDefault();
        var rest = named.Where(p => p.name != ValueTable).ToList();
        var groups = new List<ParamGroupSpec>();
        if (values is not null) groups.Add(new("values", [values], valueLr, valueWeightDecay, valueSchedule, ClipSeparately: true));
        groups.Add(new("decay", rest.Where(p => p.parameter.dim() >= 2).Select(p => p.parameter).ToList(), lr, weightDecay, schedule));
        groups.Add(new("no_decay", rest.Where(p => p.parameter.dim() < 2).Select(p => p.parameter).ToList(), lr, 0.0, schedule));
        return groups.Where(g => g.Parameters.Count > 0).ToList();
    }
}
