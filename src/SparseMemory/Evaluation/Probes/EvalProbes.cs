using System.Diagnostics;
using SparseMemory.Checkpoints;
using SparseMemory.Config;

namespace SparseMemory.Evaluation.Probes;

/// <summary>
/// Every probe by name (a <see cref="Registry{T}"/>, docs/architecture.md#registries), and the runner that times probes
/// and turns a skip into a result. Adding a probe is one <see cref="IProbe"/> file and one line here: <c>smf eval</c>'s
/// help and description, config validation and the docs check read the list from <see cref="Registry"/>.
/// </summary>
public static class EvalProbes
{
    /// <summary>All probes in their default order (cheap, small-model-sensitive probes first).</summary>
    public static readonly Registry<IProbe> Registry = new("probe",
    [
        QaF1Probe.Target(),
        QaF1Probe.Known(),
        QaF1Probe.Transfer(),
        QaF1Probe.First(),
        NllProbe.Heldout(),
        new BlimpProbe(),
        new LambadaProbe(),
        MultipleChoiceProbe.HellaSwagProbe(),
        MultipleChoiceProbe.ArcEasy(),
        MultipleChoiceProbe.Piqa(),
        NllProbe.Gsm8kSolution(),
        NllProbe.NqAnswer(),
        QaF1Probe.NaturalQuestions(),
        new ReadGainProbe(),
    ]);

    /// <summary>Runs one probe, timing it; a <see cref="ProbeSkippedException"/> becomes a skipped result.</summary>
    public static ProbeResult Run(IProbe probe, LoadedModel model, ProbeOptions options)
    {
        ArgumentNullException.ThrowIfNull(probe);
        var sw = Stopwatch.StartNew();
        try
        {
            return probe.Run(model, options) with { Seconds = sw.Elapsed.TotalSeconds };
        }
        catch (ProbeSkippedException e)
        {
            return ProbeResult.Skip(probe, e.Message, sw.Elapsed.TotalSeconds);
        }
    }
}
