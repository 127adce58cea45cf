using System.Buffers.Binary;
using System.Text;
using SparseMemory.Checkpoints;
using SparseMemory.Finetuning;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Checkpoints;

/// <summary>The one safetensors codec: byte layout pinned against files of earlier versions, and every header defect named.</summary>
public sealed class SafeTensorsTests
{
    /// <summary>
    /// Written by the torch writer before the codecs were merged: F32 [2,2], I64 [3], BOOL [3], three metadata strings
    /// (one with a '+', which the JSON writer escapes as \u002B).
    /// </summary>
    const string LegacyTorchFile =
        "CAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCIsInN0ZXAiOiI3IiwidCI6IjIwMjUtMDEtMDJUMDM6MDQ6MDUuMDAwMDAwMFx1MDAyQjAwOjAwIn0sInciOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzIsMl0sImRhdGFfb2Zmc2V0cyI6WzAsMTZdfSwiaWR4Ijp7ImR0eXBlIjoiSTY0Iiwic2hhcGUiOlszXSwiZGF0YV9vZmZzZXRzIjpbMTYsNDBdfSwibSI6eyJkdHlwZSI6IkJPT0wiLCJzaGFwZSI6WzNdLCJkYXRhX29mZnNldHMiOls0MCw0M119fSAgICAgICAAAMA/AAAAwAAAgD4AAEBAAAAAAAAAAAABAAAAAAAAAAIAAAAAAAAAAQAB";

    /// <summary>
    /// A background statistics file written by the former int64-only writer (5 slots, 2 batches, fingerprint abc123,
    /// created 2025-01-02T03:04:05Z).
    /// </summary>
    const string LegacyBackgroundFile =
        "UAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJzbWYtYmFja2dyb3VuZC1zdGF0cyIsImZvcm1hdF92ZXJzaW9uIjoiMSIsIm1vZGVsX2ZpbmdlcnByaW50IjoiYWJjMTIzIiwic2xvdF9jb3VudCI6IjUiLCJudW1fYmF0Y2hlcyI6IjIiLCJwYWRfcG9saWN5IjoiRXhjbHVkZVBhZGRpbmciLCJjcmVhdGVkX2F0IjoiMjAyNS0wMS0wMlQwMzowNDowNS4wMDAwMDAwXHUwMDJCMDA6MDAifSwiZGYiOnsiZHR5cGUiOiJJNjQiLCJzaGFwZSI6WzVdLCJkYXRhX29mZnNldHMiOlswLDQwXX0sImNvdW50cyI6eyJkdHlwZSI6Ikk2NCIsInNoYXBlIjpbNV0sImRhdGFfb2Zmc2V0cyI6WzQwLDgwXX19ICABAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAA/////////x8DAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAA==";

    static string TempFile(string name = "x.safetensors") => Path.Combine(Fixtures.TempDir("st"), name);

    static (Tensor W, Tensor Idx, Tensor M) LegacyTensors() =>
        (torch.tensor(new[] { 1.5f, -2f, 0.25f, 3f }).reshape(2, 2), torch.arange(3, ScalarType.Int64), torch.tensor(new[] { true, false, true }));

    static readonly Dictionary<string, string> LegacyMeta = new() { ["format"] = "pt", ["step"] = "7", ["t"] = "2025-01-02T03:04:05.0000000+00:00" };

    [Fact]
    public void Torch_writer_produces_the_bytes_of_earlier_versions_and_reads_them_back()
    {
        string f = TempFile();
        var (w, idx, m) = LegacyTensors();
        SafeTensors.Save(f, [("w", w), ("idx", idx), ("m", m)], LegacyMeta);
        Assert.Equal(Convert.FromBase64String(LegacyTorchFile), File.ReadAllBytes(f));

        var (t, meta) = SafeTensors.Load(f);
        Assert.Equal(new[] { "w", "idx", "m" }, t.Keys);                          // header order
        TensorAssert.Identical(w, t["w"]);
        TensorAssert.Identical(idx, t["idx"]);
        TensorAssert.Identical(m, t["m"]);
        Assert.Equal(LegacyMeta, meta);
    }

    [Fact]
    public void Sixteen_bit_floats_are_written_as_the_format_defines_them_and_read_back()
    {
        // The safetensors format (what safetensors.torch.load_file reads): "BF16" is the top half of an IEEE float32 and
        // "F16" IEEE binary16, little-endian. Bit patterns computed without torch (round to nearest even): 1 = 0x3F80 / 0x3C00, −2.5 = 0xC020 / 0xC100,
        // 0.1 (rounded to nearest) = 0x3DCD / 0x2E66.
        string f = TempFile();
        var values = new[] { 1f, -2.5f, 0.1f };
        SafeTensors.Save(f, [("b", torch.tensor(values).to(ScalarType.BFloat16)), ("h", torch.tensor(values).to(ScalarType.Float16))]);
        Assert.Equal([("b", "BF16", new long[] { 3 }), ("h", "F16", new long[] { 3 })],
            SafeTensors.ReadTensorInfo(f).Select(t => (t.Name, t.Dtype, t.Shape)).ToList(), new InfoComparer());
        var bytes = File.ReadAllBytes(f);
        int data = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        ushort At(int i) => BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(data + 2 * i));
        Assert.Equal(new ushort[] { 0x3F80, 0xC020, 0x3DCD, 0x3C00, 0xC100, 0x2E66 }, Enumerable.Range(0, 6).Select(At).ToArray());
        Assert.Equal(data + 12, bytes.Length);

        var (t, _) = SafeTensors.Load(f);
        Assert.Equal(ScalarType.BFloat16, t["b"].dtype);
        Assert.Equal(ScalarType.Float16, t["h"].dtype);
        Assert.Equal([1f, -2.5f, 0.10009765625f], t["b"].to(ScalarType.Float32).data<float>().ToArray());
        Assert.Equal([1f, -2.5f, 0.0999755859375f], t["h"].to(ScalarType.Float32).data<float>().ToArray());
    }

    sealed class InfoComparer : IEqualityComparer<(string, string, long[])>
    {
        public bool Equals((string, string, long[]) a, (string, string, long[]) b) => a.Item1 == b.Item1 && a.Item2 == b.Item2 && a.Item3.SequenceEqual(b.Item3);
        public int GetHashCode((string, string, long[]) x) => x.Item1.GetHashCode(StringComparison.Ordinal);
    }

    [Fact]
    public void Int64_writer_produces_the_bytes_of_the_former_background_writer()
    {
        string f = TempFile("bg.safetensors");
        long[] df = [1, 1, 0, 0, 2];
        long[] counts = [long.MaxValue / 4, 3, 0, 0, 8];
        var meta = new Dictionary<string, string>
        {
            ["format"] = "smf-background-stats", ["format_version"] = "1", ["model_fingerprint"] = "abc123", ["slot_count"] = "5",
            ["num_batches"] = "2", ["pad_policy"] = "ExcludePadding", ["created_at"] = "2025-01-02T03:04:05.0000000+00:00",
        };
        SafeTensors.SaveInt64(f, [("df", df), ("counts", counts)], meta);
        Assert.Equal(Convert.FromBase64String(LegacyBackgroundFile), File.ReadAllBytes(f));
        var (arrays, m) = SafeTensors.LoadInt64(f);
        Assert.Equal(df, arrays["df"]);
        Assert.Equal(counts, arrays["counts"]);
        Assert.Equal(meta, m);
    }

    [Fact]
    public void A_background_file_of_an_earlier_version_still_loads()
    {
        string f = TempFile("bg.safetensors");
        File.WriteAllBytes(f, Convert.FromBase64String(LegacyBackgroundFile));
        var stats = BackgroundStats.Load(f, expectedSlotCount: 5);
        Assert.Equal(2, stats.NumBatches);
        Assert.Equal(new long[] { 1, 1, 0, 0, 2 }, stats.DocumentFrequency.ToArray());
        Assert.Equal(new long[] { long.MaxValue / 4, 3, 0, 0, 8 }, stats.TotalCounts.ToArray());
        Assert.Equal("abc123", stats.ModelFingerprint);
        Assert.Equal(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero), stats.CreatedAt);
        // The torch reader sees the same file as two int64 tensors.
        var (t, _) = SafeTensors.Load(f);
        Assert.Equal(new long[] { 1, 1, 0, 0, 2 }, t["df"].data<long>().ToArray());
    }

    [Fact]
    public void Int64_arrays_of_a_million_slots_round_trip()
    {
        string f = TempFile();
        var a = new long[1_000_000];
        var b = new long[1_000_000];
        for (int i = 0; i < a.Length; i++) { a[i] = i * 7L - 3; b[i] = long.MinValue + i; }
        SafeTensors.SaveInt64(f, [("a", a), ("b", b)], new Dictionary<string, string> { ["k"] = "v" });
        var (arrays, meta) = SafeTensors.LoadInt64(f);
        Assert.Equal(a, arrays["a"]);
        Assert.Equal(b, arrays["b"]);
        Assert.Equal("v", meta["k"]);
    }

    [Fact]
    public void Int64_reader_refuses_other_dtypes_and_ranks()
    {
        string f = TempFile();
        SafeTensors.Save(f, [("x", torch.zeros(2, 2, ScalarType.Int64))]);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadInt64(f));
        Assert.Contains(f, e.Message);
        Assert.Contains("1-D I64", e.Message);
        SafeTensors.Save(f, [("x", torch.zeros(2, ScalarType.Float32))]);
        Assert.Throws<InvalidDataException>(() => SafeTensors.LoadInt64(f));
    }

    [Fact]
    public void Stream_writer_and_reader_round_trip_empty_and_zero_size_tensors()
    {
        using var ms = new MemoryStream();
        SafeTensors.Write(ms, [("empty", torch.zeros(0, 3)), ("one", torch.ones(1))], new Dictionary<string, string> { ["optimizer"] = "sgd" });
        ms.Position = 0;
        var (t, meta) = SafeTensors.Load(ms, "in-memory");
        Assert.Equal(new long[] { 0, 3 }, t["empty"].shape);
        Assert.Equal(1f, t["one"].item<float>());
        Assert.Equal("sgd", meta["optimizer"]);
        using var none = new MemoryStream();
        SafeTensors.Write(none, [], new Dictionary<string, string> { ["optimizer"] = "sgd" });
        none.Position = 0;
        Assert.Empty(SafeTensors.Load(none, "in-memory").Tensors);
    }

    [Fact]
    public void Writer_refuses_duplicate_names()
    {
        using var ms = new MemoryStream();
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(ms, [("a", torch.ones(1)), ("a", torch.ones(1))]));
        Assert.Throws<ArgumentException>(() => SafeTensors.WriteInt64(ms, [("__metadata__", [1L])]));
    }

    // ------------------------------------------------------------------ header defects

    /// <summary>A file with the given header text (padded to 8 bytes) and data bytes.</summary>
    static string Craft(string header, int dataBytes, byte[]? headerBytes = null)
    {
        var h = headerBytes ?? Encoding.UTF8.GetBytes(header);
        int pad = (8 - h.Length % 8) % 8;
        var bytes = new byte[8 + h.Length + pad + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(h.Length + pad));
        h.CopyTo(bytes, 8);
        for (int i = 0; i < pad; i++) bytes[8 + h.Length + i] = (byte)' ';
        string f = TempFile();
        File.WriteAllBytes(f, bytes);
        return f;
    }

    /// <summary>Every reader reports the defect as an <see cref="InvalidDataException"/> naming the file.</summary>
    static void AssertRejected(string f, params string[] fragments)
    {
        var errors = new[]
        {
            Assert.Throws<InvalidDataException>(() => SafeTensors.Load(f)),
            Assert.Throws<InvalidDataException>(() => SafeTensors.ReadMetadata(f)),
            Assert.Throws<InvalidDataException>(() => SafeTensors.LoadInt64(f)),
        };
        foreach (var e in errors)
        {
            Assert.Contains(f, e.Message);
            foreach (var fragment in fragments) Assert.Contains(fragment, e.Message);
        }
    }

    [Fact]
    public void Negative_dimension_is_rejected()
    {
        string f = Craft("""{"x":{"dtype":"I64","shape":[-1],"data_offsets":[0,0]}}""", 0);
        AssertRejected(f, "negative dimension");
    }

    [Fact]
    public void Shape_whose_element_count_overflows_is_rejected()
    {
        // 2^32 · 2^32 elements: the product overflows 64 bits (and would wrap to 0, matching the empty data section).
        string f = Craft("""{"x":{"dtype":"I64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}""", 0);
        AssertRejected(f, "overflows");
    }

    [Fact]
    public void Shape_whose_byte_count_overflows_is_rejected()
    {
        // 2^61 elements fit in a long, 2^61 · 8 bytes do not (it wraps to 0).
        string f = Craft("""{"x":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,0]}}""", 0);
        AssertRejected(f, "overflows");
    }

    [Fact]
    public void Duplicate_tensor_names_are_rejected()
    {
        string f = Craft("""{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"x":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}""", 16);
        AssertRejected(f, "duplicate tensor name x");
        string g = Craft("""{"__metadata__":{"a":"1"},"__metadata__":{"a":"2"}}""", 0);
        AssertRejected(g, "__metadata__ appears twice");
    }

    [Fact]
    public void Invalid_utf8_header_is_rejected()
    {
        var header = Encoding.UTF8.GetBytes("""{"__metadata__":{"k":"?"}}""");
        header[Array.IndexOf(header, (byte)'?')] = 0xFF;                // not a UTF-8 byte anywhere
        string f = Craft("", 0, header);
        AssertRejected(f, "not valid UTF-8");
    }

    [Fact]
    public void Header_length_beyond_the_file_is_rejected()
    {
        string f = TempFile();
        var bytes = new byte[8 + 16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 17);
        File.WriteAllBytes(f, bytes);
        AssertRejected(f, "header length 17 exceeds the file size 24", "truncated");
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);       // would be negative as a signed length
        File.WriteAllBytes(f, bytes);
        AssertRejected(f, "exceeds the file size");
    }

    [Fact]
    public void Offsets_that_do_not_tile_the_data_section_are_rejected()
    {
        AssertRejected(Craft("""{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", 16), "data section has 16 bytes");
        AssertRejected(Craft("""{"x":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}""", 16), "gap or overlap");
        AssertRejected(Craft("""{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"y":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", 8), "gap or overlap");
        AssertRejected(Craft("""{"x":{"dtype":"I64","shape":[2],"data_offsets":[0,8]}}""", 8), "needs bytes 0..8");
        AssertRejected(Craft("""{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", 4), "needs bytes 0..8");
    }

    [Fact]
    public void Malformed_entries_and_metadata_are_rejected()
    {
        AssertRejected(Craft("""[1,2]""", 0), "not a JSON object");
        AssertRejected(Craft("""{"x":{"dtype":"I64","shape":[1.5],"data_offsets":[0,8]}}""", 8), "malformed header entry for tensor x");
        AssertRejected(Craft("""{"x":{"shape":[1],"data_offsets":[0,8]}}""", 8), "no dtype");
        AssertRejected(Craft("""{"__metadata__":{"k":1}}""", 0), "metadata k is not a string");
        AssertRejected(Craft("""{"x":""", 0), "not valid JSON");
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(Craft("""{"x":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}""", 8)));
        Assert.Contains("unsupported dtype C64", e.Message);
    }
}
