using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Checkpoints;

/// <summary>
/// The project's one safetensors codec (8-byte little-endian header length N, N bytes of UTF-8 JSON
/// <c>{name: {dtype, shape, data_offsets}}</c> plus an optional string map <c>__metadata__</c>, padded with spaces to a
/// multiple of 8, then the raw little-endian tensor bytes), so checkpoints load in PyTorch with
/// <c>safetensors.torch.load_file</c>. Tensors: F32, F64, F16, BF16, I64, I32, U8, BOOL through TorchSharp; 1-D int64
/// arrays also without torch (<see cref="SaveInt64"/>, <see cref="LoadInt64"/>).
/// </summary>
/// <remarks>
/// Every reader validates the whole header before it allocates: a header length beyond the file or above
/// <see cref="MaxHeaderBytes"/>, a header that is not UTF-8 or not a JSON object, a duplicate tensor name, an unknown
/// dtype, a negative dimension, a shape whose element or byte count overflows 64 bits, offsets that do not match the
/// shape, and a data section that the tensors do not cover exactly (gaps, overlaps, missing or extra bytes) are each an
/// <see cref="InvalidDataException"/> naming the file.
/// </remarks>
public static class SafeTensors
{
    /// <summary>Largest header accepted (as in the reference implementation: 100 MB).</summary>
    public const long MaxHeaderBytes = 100L << 20;

    /// <summary>The header key of the string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    static readonly (ScalarType Type, string Name, int Size)[] Dtypes =
    [
        (ScalarType.Float32, "F32", 4), (ScalarType.Float64, "F64", 8), (ScalarType.Float16, "F16", 2),
        (ScalarType.BFloat16, "BF16", 2), (ScalarType.Int64, "I64", 8), (ScalarType.Int32, "I32", 4),
        (ScalarType.Byte, "U8", 1), (ScalarType.Bool, "BOOL", 1),
    ];

    /// <summary>The safetensors name of a dtype (F32, F64, F16, BF16, I64, I32, U8, BOOL), or the torch name for others.</summary>
    public static string DtypeName(ScalarType type)
    {
        foreach (var d in Dtypes) if (d.Type == type) return d.Name;
        return type.ToString();
    }

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>One tensor as the header describes it (offsets relative to the data section).</summary>
    sealed record Entry(string Name, string Dtype, ScalarType Type, int Size, long[] Shape, long Count, long Begin, long End);

    /// <summary>A validated header: tensors in header order and the metadata.</summary>
    sealed record Header(List<Entry> Tensors, Dictionary<string, string> Metadata);

    // ------------------------------------------------------------------ writing

    /// <summary>Writes tensors (in the given order) and string metadata atomically to <paramref name="path"/>.</summary>
    public static void Save(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        AtomicFile.Write(path, s => Write(s, tensors, metadata));

    /// <summary>Writes tensors (in the given order) and string metadata as safetensors bytes to <paramref name="destination"/>.</summary>
    /// <exception cref="NotSupportedException">A tensor has a dtype the format table lacks.</exception>
    /// <exception cref="ArgumentException">Two tensors share a name, or a tensor is named <c>__metadata__</c>.</exception>
    public static void Write(Stream destination, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.Select(t => (t.Name, Tensor: t.Tensor.detach().cpu().contiguous())).ToList();
        try
        {
            var specs = new List<(string Name, string Dtype, long[] Shape, long Bytes)>(items.Count);
            foreach (var (name, t) in items)
            {
                int i = Array.FindIndex(Dtypes, d => d.Type == t.dtype);
                if (i < 0) throw new NotSupportedException($"safetensors: dtype {t.dtype} of {name} is not supported");
                specs.Add((name, Dtypes[i].Name, t.shape, checked(t.numel() * Dtypes[i].Size)));
            }
            WriteHeader(destination, specs, metadata);
            foreach (var (_, t) in items)
                if (t.numel() > 0) destination.Write(t.bytes);
        }
        finally
        {
            foreach (var (_, t) in items) t.Dispose();
        }
    }

    /// <summary>Writes 1-D int64 arrays (dtype I64) and string metadata atomically to <paramref name="path"/>, without torch.</summary>
    public static void SaveInt64(string path, IReadOnlyList<(string Name, long[] Data)> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        AtomicFile.Write(path, s => WriteInt64(s, tensors, metadata));

    /// <summary>Writes 1-D int64 arrays (dtype I64) and string metadata as safetensors bytes to <paramref name="destination"/>.</summary>
    public static void WriteInt64(Stream destination, IReadOnlyList<(string Name, long[] Data)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        WriteHeader(destination, tensors.Select(t => (t.Name, "I64", new[] { t.Data.LongLength }, checked(t.Data.LongLength * sizeof(long)))).ToList(), metadata);
        foreach (var (_, data) in tensors)
        {
            if (BitConverter.IsLittleEndian) { destination.Write(MemoryMarshal.AsBytes(data.AsSpan())); continue; }
            var buffer = new byte[sizeof(long) * 4096];
            for (int start = 0; start < data.Length; start += 4096)
            {
                int n = Math.Min(4096, data.Length - start);
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(i * sizeof(long)), data[start + i]);
                destination.Write(buffer, 0, n * sizeof(long));
            }
        }
    }

    /// <summary>
    /// Writes one float32 tensor held in a managed array (dtype F32, <paramref name="shape"/>) and string metadata
    /// atomically to <paramref name="path"/>, without torch: a thread that must not call libtorch can write a copy taken
    /// elsewhere (the service checkpoint of <c>smf serve</c>).
    /// </summary>
    public static void SaveFloat32(string path, string name, long[] shape, float[] data, IReadOnlyDictionary<string, string>? metadata = null)
    {
        long count = shape.Aggregate(1L, (a, d) => checked(a * d));
        if (count != data.LongLength) throw new ArgumentException($"safetensors: {name} has shape [{string.Join(", ", shape)}] but {data.LongLength} values", nameof(data));
        AtomicFile.Write(path, s =>
        {
            WriteHeader(s, [(name, "F32", shape, checked(data.LongLength * sizeof(float)))], metadata);
            if (BitConverter.IsLittleEndian) { s.Write(MemoryMarshal.AsBytes(data.AsSpan())); return; }
            var buffer = new byte[sizeof(float) * 4096];
            for (int start = 0; start < data.Length; start += 4096)
            {
                int n = Math.Min(4096, data.Length - start);
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * sizeof(float)), data[start + i]);
                s.Write(buffer, 0, n * sizeof(float));
            }
        });
    }

    /// <summary>Header length, then the compact JSON header (metadata first, then tensors in order) padded with spaces to 8 bytes.</summary>
    static void WriteHeader(Stream destination, IReadOnlyList<(string Name, string Dtype, long[] Shape, long Bytes)> specs, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal) { MetadataKey };
        foreach (var s in specs)
            if (!names.Add(s.Name))
                throw new ArgumentException(s.Name == MetadataKey ? $"safetensors: a tensor may not be named {MetadataKey}" : $"safetensors: two tensors are named {s.Name}");
        var header = new MemoryStream();
        using (var j = new Utf8JsonWriter(header))
        {
            j.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                j.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) j.WriteString(k, v);
                j.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, dtype, shape, bytes) in specs)
            {
                j.WriteStartObject(name);
                j.WriteString("dtype", dtype);
                j.WriteStartArray("shape");
                foreach (long d in shape) j.WriteNumberValue(d);
                j.WriteEndArray();
                j.WriteStartArray("data_offsets");
                j.WriteNumberValue(offset);
                offset = checked(offset + bytes);
                j.WriteNumberValue(offset);
                j.WriteEndArray();
                j.WriteEndObject();
            }
            j.WriteEndObject();
        }
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');   // align the data section to 8 bytes
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        destination.Write(len);
        header.Position = 0;
        header.CopyTo(destination);
    }

    // ------------------------------------------------------------------ reading

    /// <summary>Reads only the <c>__metadata__</c> strings of a safetensors file (the header is validated as a whole).</summary>
    public static Dictionary<string, string> ReadMetadata(string path)
    {
        using var fs = OpenRead(path);
        return ReadHeader(fs, fs.Length, new Source(path)).Metadata;
    }

    /// <summary>The name, dtype (F32, BF16, …) and shape of every tensor of a safetensors file, in header order, from its validated header alone.</summary>
    public static IReadOnlyList<(string Name, string Dtype, long[] Shape)> ReadTensorInfo(string path)
    {
        using var fs = OpenRead(path);
        return ReadHeader(fs, fs.Length, new Source(path)).Tensors.Select(e => (e.Name, e.Dtype, e.Shape)).ToList();
    }

    /// <summary>
    /// Reads every tensor of a safetensors file onto the CPU, in header order. A missing file is a
    /// <see cref="FileNotFoundException"/>; a truncated or corrupt one an <see cref="InvalidDataException"/> naming the
    /// file and the problem.
    /// </summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Load(string path)
    {
        using var fs = OpenRead(path);
        return Load(fs, path);
    }

    /// <summary>
    /// Reads every tensor from the current position of a seekable <paramref name="source"/> to its end;
    /// <paramref name="origin"/> names the source in errors.
    /// </summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Load(Stream source, string origin)
    {
        var src = new Source(origin);
        var header = ReadHeader(source, source.Length - source.Position, src);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var e in header.Tensors) tensors[e.Name] = torch.empty(e.Shape, e.Type);
            foreach (var e in header.Tensors.OrderBy(e => e.Begin).ThenBy(e => e.End))   // the data section, front to back
                if (e.Count > 0) ReadData(source, tensors[e.Name].bytes, src);
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return (tensors, header.Metadata);
    }

    /// <summary>
    /// Reads a file of 1-D I64 tensors into managed arrays, without torch (e.g. background statistics). Any other
    /// dtype or rank is an <see cref="InvalidDataException"/>, as is every header problem <see cref="Load(string)"/> reports.
    /// </summary>
    public static (Dictionary<string, long[]> Tensors, Dictionary<string, string> Metadata) LoadInt64(string path)
    {
        using var fs = OpenRead(path);
        var src = new Source(path, "");
        var header = ReadHeader(fs, fs.Length, src);
        var arrays = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var e in header.Tensors)
        {
            if (e.Dtype != "I64" || e.Shape.Length != 1)
                throw new InvalidDataException($"{path}: tensor {e.Name} is {e.Dtype} [{string.Join(", ", e.Shape)}], expected a 1-D I64 tensor");
            if (e.Count > Array.MaxLength) throw src.Bad($"tensor {e.Name} has {e.Count} elements, more than an array holds");
            arrays[e.Name] = new long[e.Count];
        }
        foreach (var e in header.Tensors.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            var data = arrays[e.Name];
            ReadData(fs, MemoryMarshal.AsBytes(data.AsSpan()), src);
            if (!BitConverter.IsLittleEndian)
                for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReverseEndianness(data[i]);
        }
        return (arrays, header.Metadata);
    }

    static FileStream OpenRead(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        return File.OpenRead(path);
    }

    /// <summary>What is being read (named in errors) and what a damaged file's error suggests.</summary>
    readonly record struct Source(string Name, string Remedy = " (re-copy it or resume from an earlier checkpoint)")
    {
        public InvalidDataException Bad(string what) => new($"{Name}: {what}; the file is truncated or corrupt{Remedy}");
    }

    static void ReadData(Stream source, Span<byte> into, Source src)
    {
        try { source.ReadExactly(into); }
        catch (EndOfStreamException) { throw src.Bad("the data section ends early"); }
    }

    /// <summary>Reads and validates the header; leaves <paramref name="s"/> at the start of the data section.</summary>
    static Header ReadHeader(Stream s, long length, Source src)
    {
        if (length < 8) throw src.Bad($"only {length} bytes");
        Span<byte> len = stackalloc byte[8];
        s.ReadExactly(len);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (n == 0) throw src.Bad("header length is 0");
        if (n > (ulong)(length - 8)) throw src.Bad($"header length {n} exceeds the file size {length}");
        if (n > MaxHeaderBytes) throw src.Bad($"header length {n} exceeds the limit of {MaxHeaderBytes} bytes");
        var bytes = new byte[n];
        s.ReadExactly(bytes);
        try { StrictUtf8.GetCharCount(bytes); }
        catch (DecoderFallbackException) { throw src.Bad("header is not valid UTF-8"); }
        long dataLength = length - 8 - (long)n;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw src.Bad($"header is not valid JSON ({e.Message})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw src.Bad("header is not a JSON object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var tensors = new List<Entry>();
            var meta = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name))
                    throw src.Bad(prop.Name == MetadataKey ? $"{MetadataKey} appears twice in the header" : $"duplicate tensor name {prop.Name} in the header");
                if (prop.Name == MetadataKey) ReadMetadata(prop.Value, meta, src);
                else tensors.Add(ReadEntry(prop.Name, prop.Value, dataLength, src));
            }
            // The tensors must tile the data section: no gap, no overlap, no byte missing or left over.
            long pos = 0;
            foreach (var e in tensors.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                if (e.Begin != pos)
                    throw src.Bad($"tensor {e.Name} starts at data byte {e.Begin} but the tensors before it end at {pos} (gap or overlap)");
                pos = e.End;
            }
            if (pos != dataLength)
                throw src.Bad($"the data section has {dataLength} bytes but the tensors describe {pos}");
            return new Header(tensors, meta);
        }
    }

    static void ReadMetadata(JsonElement node, Dictionary<string, string> meta, Source src)
    {
        if (node.ValueKind != JsonValueKind.Object) throw src.Bad($"{MetadataKey} is not an object");
        foreach (var kv in node.EnumerateObject())
        {
            if (kv.Value.ValueKind != JsonValueKind.String) throw src.Bad($"metadata {kv.Name} is not a string");
            if (!meta.TryAdd(kv.Name, kv.Value.GetString()!)) throw src.Bad($"duplicate metadata key {kv.Name}");
        }
    }

    static Entry ReadEntry(string name, JsonElement node, long dataLength, Source src)
    {
        string Malformed(string what) => $"malformed header entry for tensor {name} ({what})";
        if (node.ValueKind != JsonValueKind.Object) throw src.Bad(Malformed("not an object"));
        if (!node.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw src.Bad(Malformed("no dtype string"));
        string dtype = dt.GetString()!;
        long[] shape = Integers(node, "shape") ?? throw src.Bad(Malformed("shape is not an array of integers"));
        long[] offs = Integers(node, "data_offsets") ?? throw src.Bad(Malformed("data_offsets is not an array of integers"));
        int d = Array.FindIndex(Dtypes, x => x.Name == dtype);
        if (d < 0) throw new InvalidDataException($"{src.Name}: tensor {name} has unsupported dtype {dtype}");
        var (type, _, size) = Dtypes[d];
        string shapeText = string.Join('x', shape);
        if (shape.Any(x => x < 0)) throw src.Bad($"tensor {name} has a negative dimension (shape [{string.Join(", ", shape)}])");
        long count, bytes;
        try
        {
            count = shape.Aggregate(1L, (a, b) => checked(a * b));
            bytes = checked(count * size);
        }
        catch (OverflowException)
        {
            throw src.Bad($"tensor {name} has shape [{string.Join(", ", shape)}], whose size overflows 64 bits");
        }
        if (offs.Length != 2 || offs[0] < 0 || offs[1] < offs[0] || offs[1] - offs[0] != bytes || offs[1] > dataLength)
            throw src.Bad($"tensor {name} ({dtype} {shapeText}) needs bytes {offs.ElementAtOrDefault(0)}..{offs.ElementAtOrDefault(1)} but the data section has {dataLength}");
        return new Entry(name, dtype, type, size, shape, count, offs[0], offs[1]);
    }

    /// <summary>An array of 64-bit integers, or null when the property is missing or holds anything else.</summary>
    static long[]? Integers(JsonElement node, string property)
    {
        if (!node.TryGetProperty(property, out var a) || a.ValueKind != JsonValueKind.Array) return null;
        var values = new long[a.GetArrayLength()];
        int i = 0;
        foreach (var x in a.EnumerateArray())
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt64(out values[i++])) return null;
        return values;
    }
}
