using System.Text.Json.Nodes;

namespace SparseMemory.Evaluation.Probes;

/// <summary>The outcome of one probe.</summary>
/// <param name="Probe">Probe name.</param>
/// <param name="Metric">Name of <paramref name="Value"/>.</param>
/// <param name="Value">Headline value (NaN when skipped or nothing was scored).</param>
/// <param name="Count">Items scored.</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="Extra">Further metrics, flat (e.g. <c>exact_match</c>, <c>acc</c>, <c>acc/anaphor_gender_agreement</c>).</param>
/// <param name="Details">One row per item when requested, else null.</param>
/// <param name="Skipped">Why the probe did not run, or null when it ran.</param>
public sealed record ProbeResult(string Probe, string Metric, double Value, int Count, double Seconds,
    IReadOnlyDictionary<string, double> Extra, IReadOnlyList<JsonObject>? Details = null, string? Skipped = null)
{
    /// <summary>A result for a probe that did not run.</summary>
    public static ProbeResult Skip(IProbe probe, string reason, double seconds = 0) =>
        new(probe.Name, probe.Metric, double.NaN, 0, seconds, new Dictionary<string, double>(), null, reason);

    /// <summary>
    /// One flat JSON object: <c>probe</c>, <c>metric</c>, <c>value</c>, <c>count</c>, <c>seconds</c>, then the extras
    /// by name, then <c>skipped</c> (only when skipped) and <c>details</c> (only when present). Non-finite numbers
    /// become null.
    /// </summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["probe"] = Probe,
            ["metric"] = Metric,
            ["value"] = Number(Value),
            ["count"] = Count,
            ["seconds"] = Math.Round(Seconds, 3),
        };
        foreach (var (k, v) in Extra) o[k] = Number(v);
        if (Skipped is not null) o["skipped"] = Skipped;
        if (Details is not null) o["details"] = new JsonArray(Details.Select(d => (JsonNode)d.DeepClone()).ToArray());
        return o;
    }

    static JsonNode? Number(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;
}
