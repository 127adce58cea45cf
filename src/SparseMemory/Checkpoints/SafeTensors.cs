using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SparseMemory.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Checkpoints;

/// <summary>
/// Reader and writer for the safetensors format (8-byte little-endian header length, a JSON header of
/// {name: {dtype, shape, data_offsets}} plus optional string <c>__metadata__</c>, then raw little-endian data),
/// so checkpoints load in PyTorch with <c>safetensors.torch.load_file</c>. Supports F32, F64, F16, BF16, I64, I32, U8, BOOL.
/// </summary>
public static class SafeTensors
{
    static readonly Dictionary<ScalarType, (string Name, int Size)> Types = new()
    {
        [ScalarType.Float32] = ("F32", 4), [ScalarType.Float64] = ("F64", 8), [ScalarType.Float16] = ("F16", 2),
        [ScalarType.BFloat16] = ("BF16", 2), [ScalarType.Int64] = ("I64", 8), [ScalarType.Int32] = ("I32", 4),
        [ScalarType.Byte] = ("U8", 1), [ScalarType.Bool] = ("BOOL", 1),
    };

    /// <summary>Writes tensors (in the given order) and string metadata atomically to <paramref name="path"/>.</summary>
    public static void Save(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.Select(t => (t.Name, Tensor: t.Tensor.detach().cpu().contiguous())).ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var (name, t) in items)
        {
            if (!Types.TryGetValue(t.dtype, out var ty)) throw new NotSupportedException($"safetensors: dtype {t.dtype} of {name} is not supported");
            long bytes = t.numel() * ty.Size;
            header[name] = new JsonObject
            {
                ["dtype"] = ty.Name,
                ["shape"] = new JsonArray(t.shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        byte[] headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - headerBytes.Length % 8) % 8;                  // align data to 8 bytes, padding with spaces
        headerBytes = [.. headerBytes, .. Enumerable.Repeat((byte)' ', pad)];
        AtomicFile.Write(path, s =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerBytes.Length);
            s.Write(len);
            s.Write(headerBytes);
            foreach (var (_, t) in items) s.Write(t.bytes);
        });
        foreach (var (_, t) in items) t.Dispose();
    }

    /// <summary>Reads only the <c>__metadata__</c> strings of a safetensors file.</summary>
    public static Dictionary<string, string> ReadMetadata(string path)
    {
        using var fs = File.OpenRead(path);
        Span<byte> len = stackalloc byte[8];
        if (fs.Read(len) != 8) throw new InvalidDataException($"{path}: truncated safetensors header");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (n == 0 || n > (ulong)fs.Length - 8) throw new InvalidDataException($"{path}: header length {n} exceeds the file size; the file is truncated or corrupt");
        var buf = new byte[n];
        fs.ReadExactly(buf);
        var meta = new Dictionary<string, string>();
        try
        {
            if (JsonNode.Parse(buf)?["__metadata__"] is JsonObject m)
                foreach (var (k, v) in m) meta[k] = v!.GetValue<string>();
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: header is not valid JSON ({e.Message})"); }
        return meta;
    }

    /// <summary>
    /// Reads every tensor of a safetensors file onto the CPU. A missing, truncated or corrupt file throws
    /// <see cref="InvalidDataException"/> naming the file and the problem.
    /// </summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        byte[] data = File.ReadAllBytes(path);
        string Bad(string what) => $"{path}: {what}; the file is truncated or corrupt (re-copy it or resume from an earlier checkpoint)";
        if (data.Length < 8) throw new InvalidDataException(Bad($"only {data.Length} bytes"));
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(data);
        if (n == 0 || n > (ulong)data.Length - 8) throw new InvalidDataException(Bad($"header length {n} exceeds the file size {data.Length}"));
        JsonObject header;
        try { header = JsonNode.Parse(Encoding.UTF8.GetString(data, 8, (int)n))?.AsObject() ?? throw new JsonException("null header"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new InvalidDataException(Bad($"header is not valid JSON ({e.Message})")); }
        long dataStart = 8 + (long)n;
        var meta = new Dictionary<string, string>();
        var tensors = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (name, node) in header)
            {
                if (name == "__metadata__")
                {
                    foreach (var (k, v) in node!.AsObject()) meta[k] = v!.GetValue<string>();
                    continue;
                }
                string dtype = node!["dtype"]!.GetValue<string>();
                var shape = node["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
                var offs = node["data_offsets"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
                var (st, size) = Types.FirstOrDefault(kv => kv.Value.Name == dtype) is var kv2 && kv2.Value.Name is not null
                    ? (kv2.Key, kv2.Value.Size) : throw new InvalidDataException($"{path}: tensor {name} has unsupported dtype {dtype}");
                long count = shape.Aggregate(1L, (a, b) => a * b);
                if (offs.Length != 2 || offs[1] - offs[0] != count * size || dataStart + offs[1] > data.Length || offs[0] < 0)
                    throw new InvalidDataException(Bad($"tensor {name} ({dtype} {string.Join('x', shape)}) needs bytes {offs.ElementAtOrDefault(0)}..{offs.ElementAtOrDefault(1)} but the data section has {data.Length - dataStart}"));
                var t = torch.empty(shape, st);
                var src = new ReadOnlySpan<byte>(data, (int)(dataStart + offs[0]), (int)(count * size));
                src.CopyTo(t.bytes);
                tensors[name] = t;
            }
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw new InvalidDataException(Bad($"malformed header entry ({e.Message})"));
        }
        return (tensors, meta);
    }
}
