using System.Diagnostics;
using SparseMemory.Checkpoints;

namespace SparseMemory.Evaluation.Probes;

/// <summary>Every probe by name, and the runner that times probes and turns a skip into a result.</summary>
public static class ProbeRegistry
{
    /// <summary>All probes in their default order (cheap, small-model-sensitive probes first).</summary>
    public static IReadOnlyList<IProbe> All { get; } =
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
    ];

    /// <summary>The probe names in default order.</summary>
    public static IReadOnlyList<string> Names => All.Select(p => p.Name).ToArray();

    /// <summary>The probe called <paramref name="name"/>, or null.</summary>
    public static IProbe? Find(string name) => All.FirstOrDefault(p => p.Name == name);

    /// <summary>One line per unknown name in <paramref name="names"/> (for a config's <c>probes</c> list).</summary>
    public static IEnumerable<string> Problems(IEnumerable<string> names) =>
        names.Where(n => Find(n) is null).Select(n => $"probes: unknown probe '{n}'; known: {string.Join(", ", Names)}");

    /// <summary>Probes by name, in the order given (duplicates removed).</summary>
    /// <exception cref="ArgumentException">An unknown name; the message lists the known probes.</exception>
    public static IReadOnlyList<IProbe> Resolve(IEnumerable<string> names)
    {
        var list = names.Select(n => n.Trim()).Where(n => n.Length > 0).Distinct().ToArray();
        var unknown = list.Where(n => Find(n) is null).ToArray();
        if (unknown.Length > 0)
            throw new ArgumentException($"unknown probe{(unknown.Length > 1 ? "s" : "")} {string.Join(", ", unknown.Select(u => $"'{u}'"))}; known probes: {string.Join(", ", Names)}");
        return list.Select(n => Find(n)!).ToArray();
    }

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
