using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace SparseMemory.Finetuning;

/// <summary>
/// Minimal reader and writer for safetensors files holding only 1-D int64 tensors plus string metadata.
/// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// (<c>{"name": {"dtype":"I64","shape":[n],"data_offsets":[begin,end]}, "__metadata__": {...}}</c>),
/// then the raw little-endian tensor bytes.
/// </summary>
internal static class Int64Safetensors
{
    private const long MaxHeaderBytes = 100L << 20;

    /// <summary>Writes the file atomically: a temp file next to <paramref name="path"/>, then a rename over it.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, long[] Data)> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            foreach (var (key, value) in metadata)
            {
                json.WriteString(key, value);
            }

            json.WriteEndObject();
            long offset = 0;
            foreach (var (name, data) in tensors)
            {
                json.WriteStartObject(name);
                json.WriteString("dtype", "I64");
                json.WriteStartArray("shape");
                json.WriteNumberValue(data.LongLength);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += data.LongLength * sizeof(long);
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        // Pad the header with spaces so the data starts 8-byte aligned (allowed by the format).
        while ((header.Length % 8) != 0)
        {
            header.WriteByte((byte)' ');
        }

        string fullPath = Path.GetFullPath(path);
        string tmp = fullPath + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                file.Write(len);
                header.Position = 0;
                header.CopyTo(file);
                foreach (var (_, data) in tensors)
                {
                    WriteInt64s(file, data);
                }

                file.Flush(flushToDisk: true);
            }

            File.Move(tmp, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    /// <summary>Reads every tensor and the metadata. Throws <see cref="InvalidDataException"/> naming the file on any defect.</summary>
    public static (Dictionary<string, long[]> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8)
        {
            throw Corrupt(path, $"it is {bytes.Length} bytes long, shorter than the 8-byte header length");
        }

        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)MaxHeaderBytes || headerLength > (ulong)(bytes.Length - 8))
        {
            throw Corrupt(path, $"the header claims {headerLength} bytes but the file holds only {bytes.Length - 8} after the length field (truncated?)");
        }

        int dataStart = 8 + (int)headerLength;
        var tensors = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        long maxEnd = 0;
        try
        {
            using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                {
                    foreach (var m in entry.Value.EnumerateObject())
                    {
                        metadata[m.Name] = m.Value.GetString() ?? string.Empty;
                    }

                    continue;
                }

                string dtype = entry.Value.GetProperty("dtype").GetString() ?? string.Empty;
                if (dtype != "I64")
                {
                    throw Corrupt(path, $"tensor '{entry.Name}' has dtype {dtype}, expected I64");
                }

                var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                if (shape.Length != 1 || shape[0] < 0 || offsets.Length != 2)
                {
                    throw Corrupt(path, $"tensor '{entry.Name}' must be 1-D with two data offsets");
                }

                long begin = offsets[0], end = offsets[1];
                if (begin < 0 || end < begin || end - begin != shape[0] * sizeof(long) || dataStart + end > bytes.Length)
                {
                    throw Corrupt(path, $"tensor '{entry.Name}' has data offsets [{begin}, {end}] that do not fit its shape or the file (truncated?)");
                }

                var data = new long[shape[0]];
                ReadInt64s(bytes.AsSpan(dataStart + (int)begin, (int)(end - begin)), data);
                tensors[entry.Name] = data;
                maxEnd = Math.Max(maxEnd, end);
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
        {
            throw Corrupt(path, $"the JSON header is malformed ({e.Message})");
        }

        if (dataStart + maxEnd != bytes.Length)
        {
            throw Corrupt(path, $"the data section is {bytes.Length - dataStart} bytes but the tensors need {maxEnd}");
        }

        return (tensors, metadata);
    }

    private static InvalidDataException Corrupt(string path, string problem) =>
        new($"Background stats file '{path}' is not a valid safetensors file: {problem}. Delete it and re-run `smf background --model DIR` to recompute it.");

    private static void WriteInt64s(Stream stream, long[] data)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            return;
        }

        var buffer = new byte[8];
        foreach (long v in data)
        {
            BinaryPrimitives.WriteInt64LittleEndian(buffer, v);
            stream.Write(buffer);
        }
    }

    private static void ReadInt64s(ReadOnlySpan<byte> source, long[] target)
    {
        for (int i = 0; i < target.Length; i++)
        {
            target[i] = BinaryPrimitives.ReadInt64LittleEndian(source.Slice(i * sizeof(long), sizeof(long)));
        }
    }
}
