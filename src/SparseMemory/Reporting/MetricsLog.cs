namespace SparseMemory.Reporting;

/// <summary>The metrics logged at one step: metric name → value (null where the file has null).</summary>
/// <param name="Step">The training step.</param>
/// <param name="Values">Every key of the step's row except <c>step</c>.</param>
public sealed record MetricsRow(long Step, IReadOnlyDictionary<string, double?> Values)
{
    /// <summary>The value of <paramref name="key"/> when present and finite, else null.</summary>
    public double? Get(string key) => Values.TryGetValue(key, out var v) && v is double d && double.IsFinite(d) ? d : null;
}

/// <summary>
/// A run's <c>metrics.jsonl</c> as series over steps: rows ordered by step (rows of one step merged, later keys
/// winning), and the metric names in the order they first appear.
/// </summary>
public sealed class MetricsLog
{
    /// <summary>Rows ordered by step.</summary>
    public IReadOnlyList<MetricsRow> Rows { get; }

    /// <summary>Every metric name (not <c>step</c>), in order of first appearance.</summary>
    public IReadOnlyList<string> Keys { get; }

    /// <summary>The file the log was read from (null when built in memory).</summary>
    public string? Path { get; }

    /// <summary>A log from rows in any order; rows with the same step are merged, later keys winning.</summary>
    public MetricsLog(IEnumerable<MetricsRow> rows, string? path = null)
    {
        Path = path;
        var byStep = new SortedDictionary<long, Dictionary<string, double?>>();
        var keys = new List<string>();
        var seen = new HashSet<string>();
        foreach (var row in rows)
        {
            if (!byStep.TryGetValue(row.Step, out var merged)) byStep[row.Step] = merged = [];
            foreach (var (k, v) in row.Values)
            {
                merged[k] = v;
                if (seen.Add(k)) keys.Add(k);
            }
        }
        Rows = byStep.Select(kv => new MetricsRow(kv.Key, kv.Value)).ToList();
        Keys = keys;
    }

    /// <summary>Number of distinct steps.</summary>
    public int Count => Rows.Count;

    /// <summary>Steps of the rows, ascending.</summary>
    public IEnumerable<long> Steps => Rows.Select(r => r.Step);

    /// <summary>True when some row has a finite value for <paramref name="key"/>.</summary>
    public bool Has(string key) => Rows.Any(r => r.Get(key) is not null);

    /// <summary>The steps and values of <paramref name="key"/>, skipping rows where it is absent, null or not finite.</summary>
    public (double[] Steps, double[] Values) Series(string key)
    {
        var pts = Rows.Where(r => r.Get(key) is not null).ToList();
        return (pts.Select(r => (double)r.Step).ToArray(), pts.Select(r => r.Get(key)!.Value).ToArray());
    }

    /// <summary>The first finite value of <paramref name="key"/> and its step, or null.</summary>
    public (long Step, double Value)? First(string key) =>
        Rows.FirstOrDefault(r => r.Get(key) is not null) is { } r ? (r.Step, r.Get(key)!.Value) : null;

    /// <summary>The last finite value of <paramref name="key"/> and its step, or null.</summary>
    public (long Step, double Value)? Last(string key) =>
        Rows.LastOrDefault(r => r.Get(key) is not null) is { } r ? (r.Step, r.Get(key)!.Value) : null;
}
