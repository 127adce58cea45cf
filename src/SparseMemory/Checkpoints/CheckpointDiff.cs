using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Checkpoints;

/// <summary>How one tensor name compares between checkpoints A and B.</summary>
public enum TensorDiffStatus
{
    /// <summary>Same shape, dtype and bytes.</summary>
    Unchanged,
    /// <summary>Same shape and dtype; some elements' bits differ.</summary>
    Changed,
    /// <summary>Only in B.</summary>
    Added,
    /// <summary>Only in A.</summary>
    Removed,
    /// <summary>In both with different shapes.</summary>
    ShapeMismatch,
    /// <summary>In both with the same shape but different dtypes.</summary>
    DtypeMismatch,
}

/// <summary>The comparison of one tensor name.</summary>
/// <param name="Name">State-dict name.</param>
/// <param name="Status">How it compares.</param>
/// <param name="Shape">Shape in A (in B when added).</param>
/// <param name="ShapeB">Shape in B when it differs from <paramref name="Shape"/>, else null.</param>
/// <param name="ChangedElements">Elements whose bits differ (all elements for added/removed/mismatched tensors).</param>
/// <param name="ChangedRows">Rows along dim 0 with any changed element (for 0-D and 1-D tensors: changed elements).</param>
/// <param name="MaxAbsDelta">Largest |b − a| over the elements where both are finite (0 when there is none, e.g. only −0.0 vs 0.0; 0 for
/// added/removed/mismatched tensors), and NaN when a changed row of B holds NaN or ±infinity (<paramref name="NonFiniteRows"/> &gt; 0):
/// a table that diverged is never reported as barely changed.</param>
/// <param name="NonFiniteRows">Changed rows (as <paramref name="ChangedRows"/>) whose values in B hold NaN or ±infinity.</param>
public sealed record TensorDiff(string Name, TensorDiffStatus Status, long[] Shape, long[]? ShapeB, long ChangedElements, long ChangedRows, double MaxAbsDelta,
    long NonFiniteRows = 0);

/// <summary>The comparison of two checkpoints' weights.</summary>
/// <param name="A">Folder A.</param>
/// <param name="B">Folder B.</param>
/// <param name="Tensors">Every tensor name of A ∪ B, sorted by name.</param>
/// <param name="ChangedSlotIds">Changed rows of <c>memory_values.weight</c> (memory slots), ascending; empty when the table is absent or not comparable.</param>
public sealed record CheckpointDiffResult(string A, string B, IReadOnlyList<TensorDiff> Tensors, IReadOnlyList<long> ChangedSlotIds)
{
    /// <summary>Number of changed memory slots.</summary>
    public int ChangedSlots => ChangedSlotIds.Count;
    /// <summary>Tensors that differ in any way (changed, added, removed or mismatched).</summary>
    public IEnumerable<TensorDiff> Differing => Tensors.Where(t => t.Status != TensorDiffStatus.Unchanged);
    /// <summary>Changed rows, over every tensor, whose values in B hold NaN or ±infinity.</summary>
    public long NonFiniteRows => Tensors.Sum(t => t.NonFiniteRows);
    /// <summary>Number of identical tensors.</summary>
    public int UnchangedTensors => Tensors.Count(t => t.Status == TensorDiffStatus.Unchanged);

    /// <summary>
    /// One JSON object: <c>{"a","b","tensors":[{"name","status","shape","shape_b"?,"changed_elements","changed_rows","max_abs_delta"
    /// (null when rows became non-finite),"non_finite_rows"}…],
    /// "changed_slots","changed_slot_ids","unchanged_tensors"}</c>; <c>tensors</c> lists only differing tensors unless
    /// <paramref name="all"/>.
    /// </summary>
    public string ToJson(bool all = false)
    {
        using var ms = new MemoryStream();
        using (var j = new Utf8JsonWriter(ms))
        {
            j.WriteStartObject();
            j.WriteString("a", A);
            j.WriteString("b", B);
            j.WriteStartArray("tensors");
            foreach (var t in all ? Tensors : Differing)
            {
                j.WriteStartObject();
                j.WriteString("name", t.Name);
                j.WriteString("status", StatusName(t.Status));
                WriteShape(j, "shape", t.Shape);
                if (t.ShapeB is not null) WriteShape(j, "shape_b", t.ShapeB);
                j.WriteNumber("changed_elements", t.ChangedElements);
                j.WriteNumber("changed_rows", t.ChangedRows);
                if (double.IsFinite(t.MaxAbsDelta)) j.WriteNumber("max_abs_delta", t.MaxAbsDelta);
                else j.WriteNull("max_abs_delta");                        // NaN: rows became non-finite (non_finite_rows)
                j.WriteNumber("non_finite_rows", t.NonFiniteRows);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteNumber("changed_slots", ChangedSlots);
            j.WriteStartArray("changed_slot_ids");
            foreach (long id in ChangedSlotIds) j.WriteNumberValue(id);
            j.WriteEndArray();
            j.WriteNumber("unchanged_tensors", UnchangedTensors);
            j.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>The snake_case status name used in JSON and tables.</summary>
    public static string StatusName(TensorDiffStatus s) => s switch
    {
        TensorDiffStatus.Unchanged => "unchanged",
        TensorDiffStatus.Changed => "changed",
        TensorDiffStatus.Added => "added",
        TensorDiffStatus.Removed => "removed",
        TensorDiffStatus.ShapeMismatch => "shape_mismatch",
        _ => "dtype_mismatch",
    };

    static void WriteShape(Utf8JsonWriter j, string name, long[] shape)
    {
        j.WriteStartArray(name);
        foreach (long d in shape) j.WriteNumberValue(d);
        j.WriteEndArray();
    }
}

/// <summary>
/// Compares the <c>model.safetensors</c> of two checkpoint folders tensor by tensor, bitwise: an element counts as
/// changed when its bytes differ, so −0.0 vs 0.0 and different NaN payloads are changes. The changed rows of
/// <c>memory_values.weight</c> are the memory slots a finetuning run touched (for SMF: the selected slots).
/// </summary>
public static class CheckpointDiff
{
    /// <summary>Name of the shared memory value table.</summary>
    public const string MemoryValuesName = "memory_values.weight";

    /// <summary>
    /// Compares <c>dirA/model.safetensors</c> with <c>dirB/model.safetensors</c>. A missing folder is a
    /// <see cref="DirectoryNotFoundException"/>, a missing file a <see cref="FileNotFoundException"/>, a truncated or
    /// corrupt file an <see cref="InvalidDataException"/>; each message names the path.
    /// </summary>
    public static CheckpointDiffResult Compare(string dirA, string dirB)
    {
        var a = LoadFolder(dirA);
        try
        {
            var b = LoadFolder(dirB);
            try { return Compare(dirA, a, dirB, b); }
            finally { foreach (var t in b.Values) t.Dispose(); }
        }
        finally { foreach (var t in a.Values) t.Dispose(); }
    }

    /// <summary>Compares two in-memory tensor sets (CPU tensors); <paramref name="labelA"/>/<paramref name="labelB"/> name them in the result.</summary>
    public static CheckpointDiffResult Compare(string labelA, IReadOnlyDictionary<string, Tensor> a, string labelB, IReadOnlyDictionary<string, Tensor> b)
    {
        var diffs = new List<TensorDiff>();
        IReadOnlyList<long> slotIds = [];
        foreach (string name in a.Keys.Union(b.Keys).Order(StringComparer.Ordinal))
        {
            a.TryGetValue(name, out var ta);
            b.TryGetValue(name, out var tb);
            if (ta is null) { diffs.Add(Whole(name, TensorDiffStatus.Added, tb!, null)); continue; }
            if (tb is null) { diffs.Add(Whole(name, TensorDiffStatus.Removed, ta, null)); continue; }
            if (!ta.shape.SequenceEqual(tb.shape)) { diffs.Add(Whole(name, TensorDiffStatus.ShapeMismatch, ta, tb.shape)); continue; }
            if (ta.dtype != tb.dtype) { diffs.Add(Whole(name, TensorDiffStatus.DtypeMismatch, ta, null)); continue; }
            var (diff, rows) = CompareSameLayout(name, ta, tb);
            diffs.Add(diff);
            if (name == MemoryValuesName && ta.dim() == 2) slotIds = rows;
        }
        return new CheckpointDiffResult(labelA, labelB, diffs, slotIds);
    }

    static Dictionary<string, Tensor> LoadFolder(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: checkpoint folder not found");
        return SafeTensors.Load(Path.Combine(dir, Checkpoint.ModelFile)).Tensors;
    }

    static TensorDiff Whole(string name, TensorDiffStatus status, Tensor t, long[]? shapeB)
    {
        long n = t.numel();
        long rows = t.dim() >= 2 ? t.shape[0] : n;
        return new TensorDiff(name, status, t.shape, shapeB, n, rows, 0);
    }

    /// <summary>Bitwise comparison of two tensors of equal shape and dtype; also returns the changed row ids (ascending).</summary>
    static (TensorDiff Diff, long[] Rows) CompareSameLayout(string name, Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var ca = a.cpu().contiguous();
        var cb = b.cpu().contiguous();
        long n = ca.numel();
        int size = (int)ca.element_size();
        long rowLen = ca.dim() >= 2 ? n / Math.Max(1, ca.shape[0]) : 1;           // elements per row (1-D: each element is a row)
        var (changed, rows) = size switch
        {
            1 => ChangedRows<byte>(ca.bytes, cb.bytes, rowLen),
            2 => ChangedRows<short>(ca.bytes, cb.bytes, rowLen),
            4 => ChangedRows<int>(ca.bytes, cb.bytes, rowLen),
            8 => ChangedRows<long>(ca.bytes, cb.bytes, rowLen),
            _ => throw new NotSupportedException($"{name}: element size {size} is not supported"),
        };
        if (changed == 0) return (new TensorDiff(name, TensorDiffStatus.Unchanged, a.shape, null, 0, 0, 0), []);
        double maxDelta;
        long nonFiniteRows = 0;
        if (ca.dtype == ScalarType.Bool) maxDelta = 1;
        else
        {
            var delta = (cb.to(ScalarType.Float64) - ca.to(ScalarType.Float64)).abs().reshape(n);         // (N,)
            var finite = delta.masked_select(delta.isfinite());
            maxDelta = finite.numel() > 0 ? finite.max().item<double>() : 0;
            if (cb.is_floating_point())
            {
                var badRow = cb.isfinite().logical_not().reshape(n / rowLen, rowLen).any(1).data<bool>().ToArray();
                nonFiniteRows = rows.LongCount(r => badRow[r]);
                if (nonFiniteRows > 0) maxDelta = double.NaN;
            }
        }
        return (new TensorDiff(name, TensorDiffStatus.Changed, a.shape, null, changed, rows.LongLength, maxDelta, nonFiniteRows), rows);
    }

    /// <summary>Counts elements whose bit patterns differ (compared as same-width integers) and lists the rows holding any.</summary>
    static (long Changed, long[] Rows) ChangedRows<T>(ReadOnlySpan<byte> bytesA, ReadOnlySpan<byte> bytesB, long rowLen)
        where T : unmanaged, IEquatable<T>
    {
        var x = MemoryMarshal.Cast<byte, T>(bytesA);
        var y = MemoryMarshal.Cast<byte, T>(bytesB);
        long changed = 0;
        var rows = new List<long>();
        long lastRow = -1;
        for (int i = 0; i < x.Length; i++)
        {
            if (x[i].Equals(y[i])) continue;
            changed++;
            long row = i / rowLen;
            if (row != lastRow) { rows.Add(row); lastRow = row; }
        }
        return (changed, rows.ToArray());
    }
}
