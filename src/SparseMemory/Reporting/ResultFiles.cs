using System.Globalization;
using System.Text.Json;

namespace SparseMemory.Reporting;

/// <summary>
/// Readers for the files runs and experiments leave behind: <c>metrics.jsonl</c>, <c>summary.json</c> and generic
/// results JSONL. Nested objects and arrays are flattened into keys joined with '/' (<c>{"probes":{"f1":1}}</c> →
/// <c>probes/f1</c>; array items by index). Blank lines are skipped; a malformed line is an
/// <see cref="InvalidDataException"/> naming the file and the 1-based line number; a missing file is a
/// <see cref="FileNotFoundException"/> naming it.
/// </summary>
public static class ResultFiles
{
    /// <summary>File name of a run's per-step metrics.</summary>
    public const string MetricsFile = "metrics.jsonl";

    /// <summary>File name of a finished run's summary.</summary>
    public const string SummaryFile = "summary.json";

    /// <summary>
    /// Reads a <c>metrics.jsonl</c>: one JSON object per line with an integer <c>step</c>; numbers and nulls become
    /// metric values, text values other than <c>NaN</c>/<c>Infinity</c>/<c>-Infinity</c> are skipped.
    /// </summary>
    public static MetricsLog ReadMetrics(string path)
    {
        var rows = new List<MetricsRow>();
        foreach (var (line, fields) in ReadLines(path))
        {
            if (!fields.TryGetValue("step", out var s) || s.Number is not double step)
                throw Bad(path, line, "no numeric \"step\"");
            if (step != Math.Floor(step) || Math.Abs(step) > 1e15)
                throw Bad(path, line, $"\"step\" is not an integer ({s})");
            var values = new Dictionary<string, double?>();
            foreach (var (k, v) in fields)
                if (k != "step" && (v.Number is not null || v.IsNull)) values[k] = v.Number;
            rows.Add(new MetricsRow((long)step, values));
        }
        return new MetricsLog(rows, path);
    }

    /// <summary>Reads a JSON object (e.g. <c>summary.json</c>) into a flat dictionary, keys in file order.</summary>
    public static IReadOnlyDictionary<string, ResultValue> ReadSummary(string path)
    {
        string text = ReadAll(path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text, DocOptions); }
        catch (JsonException e) { throw Bad(path, (e.LineNumber ?? 0) + 1, e.Message); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: expected a JSON object, found {Kind(doc.RootElement)}");
            var flat = new OrderedFlat();
            Flatten(doc.RootElement, "", flat, path, 1);
            return flat.ToDictionary();
        }
    }

    /// <summary>Reads a results JSONL (one JSON object per line) into flat rows, in file order.</summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, ResultValue>> ReadJsonl(string path) =>
        ReadLines(path).Select(l => l.Fields).ToList();

    /// <summary>The number at <paramref name="key"/>, or null when absent, null or text.</summary>
    public static double? Number(this IReadOnlyDictionary<string, ResultValue> row, string key) =>
        row.TryGetValue(key, out var v) ? v.Number : null;

    /// <summary>The value at <paramref name="key"/> as text (numbers in invariant culture), or null when absent or null.</summary>
    public static string? Text(this IReadOnlyDictionary<string, ResultValue> row, string key) =>
        row.TryGetValue(key, out var v) && !v.IsNull ? v.ToString() : null;

    static readonly JsonDocumentOptions DocOptions = new() { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow };

    static IEnumerable<(int Line, IReadOnlyDictionary<string, ResultValue> Fields)> ReadLines(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        int n = 0;
        foreach (string text in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(text, DocOptions); }
            catch (JsonException e) { throw Bad(path, n, e.Message); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    throw Bad(path, n, $"expected a JSON object, found {Kind(doc.RootElement)}");
                var flat = new OrderedFlat();
                Flatten(doc.RootElement, "", flat, path, n);
                yield return (n, flat.ToDictionary());
            }
        }
    }

    static string ReadAll(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        return File.ReadAllText(path);
    }

    static void Flatten(JsonElement e, string prefix, OrderedFlat into, string path, int line)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject()) Flatten(p.Value, Join(prefix, p.Name), into, path, line);
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in e.EnumerateArray()) Flatten(item, Join(prefix, (i++).ToString(CultureInfo.InvariantCulture)), into, path, line);
                break;
            case JsonValueKind.Number:
                if (!e.TryGetDouble(out double d) || !double.IsFinite(d))
                    throw Bad(path, line, $"\"{prefix}\": number {e.GetRawText()} is out of range");
                into.Set(prefix, ResultValue.Of(d));
                break;
            case JsonValueKind.String:
                string s = e.GetString()!;
                into.Set(prefix, s switch
                {
                    "NaN" => ResultValue.Of(double.NaN),
                    "Infinity" => ResultValue.Of(double.PositiveInfinity),
                    "-Infinity" => ResultValue.Of(double.NegativeInfinity),
                    _ => ResultValue.Of(s),
                });
                break;
            case JsonValueKind.True: into.Set(prefix, ResultValue.Of("true")); break;
            case JsonValueKind.False: into.Set(prefix, ResultValue.Of("false")); break;
            default: into.Set(prefix, ResultValue.Null); break;
        }
    }

    static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "/" + name;

    static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();

    static InvalidDataException Bad(string path, long line, string why) => new($"{path}:{line}: {why}");

    /// <summary>Keys in first-set order; a later set of the same key replaces the value in place.</summary>
    sealed class OrderedFlat
    {
        readonly List<string> _order = [];
        readonly Dictionary<string, ResultValue> _values = [];

        public void Set(string key, ResultValue v)
        {
            if (!_values.ContainsKey(key)) _order.Add(key);
            _values[key] = v;
        }

        public IReadOnlyDictionary<string, ResultValue> ToDictionary() => new OrderedReadOnly(_order, _values);
    }

    /// <summary>A read-only dictionary that enumerates in insertion order.</summary>
    sealed class OrderedReadOnly(List<string> order, Dictionary<string, ResultValue> values) : IReadOnlyDictionary<string, ResultValue>
    {
        public ResultValue this[string key] => values[key];
        public IEnumerable<string> Keys => order;
        public IEnumerable<ResultValue> Values => order.Select(k => values[k]);
        public int Count => order.Count;
        public bool ContainsKey(string key) => values.ContainsKey(key);
        public bool TryGetValue(string key, out ResultValue value) => values.TryGetValue(key, out value);
        public IEnumerator<KeyValuePair<string, ResultValue>> GetEnumerator() => order.Select(k => KeyValuePair.Create(k, values[k])).GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
