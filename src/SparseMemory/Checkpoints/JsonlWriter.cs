using System.Text.Json;
using System.Text.Json.Nodes;

namespace SparseMemory.Checkpoints;

/// <summary>Appends flat JSON rows to a .jsonl file, flushing each row (a crash loses at most the row being written).</summary>
public sealed class JsonlWriter : IDisposable
{
    readonly FileStream _file;
    readonly StreamWriter _w;

    /// <summary>Opens <paramref name="path"/> for appending.</summary>
    public JsonlWriter(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        _w = new StreamWriter(_file) { AutoFlush = true };
    }

    /// <summary>Makes every row written so far durable (fsync); a checkpoint calls it before it commits.</summary>
    public void Sync()
    {
        _w.Flush();
        _file.Flush(flushToDisk: true);
    }

    /// <summary>Writes one row; doubles that are not finite become null.</summary>
    public void Write(IEnumerable<KeyValuePair<string, object?>> row)
    {
        var o = new JsonObject();
        foreach (var (k, v) in row)
            o[k] = v switch
            {
                null => null,
                double d when !double.IsFinite(d) => null,
                double d => d,
                float f => (double)f,
                int i => i,
                long l => l,
                bool b => b,
                string s => s,
                _ => JsonValue.Create(v.ToString()),
            };
        _w.WriteLine(o.ToJsonString());
    }

    /// <summary>
    /// Keeps only rows whose <c>step</c> is at most <paramref name="maxStep"/> (used on resume, so rows written after the
    /// last checkpoint are not duplicated). Rewrites the file atomically.
    /// </summary>
    public static void TruncateAfterStep(string path, long maxStep)
    {
        if (!File.Exists(path)) return;
        var keep = File.ReadAllLines(path).Where(line =>
        {
            try { return JsonNode.Parse(line)?["step"]?.GetValue<long>() is long s && s <= maxStep; }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { return false; }
        });
        AtomicFile.WriteAllText(path, string.Concat(keep.Select(l => l + "\n")));
    }

    /// <inheritdoc/>
    public void Dispose() => _w.Dispose();
}
