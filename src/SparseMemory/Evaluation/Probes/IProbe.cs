using SparseMemory.Checkpoints;
using SparseMemory.Config;

namespace SparseMemory.Evaluation.Probes;

/// <summary>
/// One evaluation probe: a fixed item set and one headline metric, run on a loaded checkpoint. Probes are stateless;
/// a probe whose data is unavailable throws <see cref="ProbeSkippedException"/> (see <see cref="EvalProbes.Run"/>).
/// Its <see cref="INamedEntry.Name"/> (e.g. <c>target-f1</c>) is used on the command line, in configs and in result files.
/// </summary>
public interface IProbe : INamedEntry
{
    /// <summary>Name of the headline metric, e.g. <c>f1</c>, <c>acc_norm</c>, <c>nll_per_token</c>.</summary>
    string Metric { get; }

    /// <summary>Whether a larger headline value is better (false for NLLs).</summary>
    bool HigherIsBetter { get; }

    /// <summary>Evaluates the model. <see cref="ProbeResult.Seconds"/> may be left 0; <see cref="EvalProbes.Run"/> times it.</summary>
    /// <exception cref="ProbeSkippedException">The probe's data is not available.</exception>
    ProbeResult Run(LoadedModel model, ProbeOptions options);
}
