using SparseMemory.Checkpoints;
using SparseMemory.Finetuning;
using Xunit;

namespace SparseMemory.Tests.Finetuning;

public sealed class BackgroundStatsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("smf-bgstats-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static BackgroundStats Sample(long slots = 10)
    {
        var stats = new BackgroundStats(slots, "abc123", PadPolicy.ExcludePadding, new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero));
        var c1 = new long[slots];
        var c2 = new long[slots];
        c1[1] = 3;
        c1[4] = 1;
        c2[4] = 7;
        c2[slots - 1] = long.MaxValue / 4;
        stats.Accumulate(SlotCounts.FromArray(c1));
        stats.Accumulate(SlotCounts.FromArray(c2));
        return stats;
    }

    [Fact]
    public void Accumulate_counts_batches_df_and_totals()
    {
        var stats = Sample();
        Assert.Equal(2, stats.NumBatches);
        Assert.Equal(new long[] { 0, 1, 0, 0, 2, 0, 0, 0, 0, 1 }, stats.DocumentFrequency.ToArray());
        Assert.Equal(8, stats.TotalCounts[4]);
        Assert.Throws<ArgumentException>(() => stats.Accumulate(SlotCounts.FromArray(new long[3])));
        Assert.Throws<ArgumentException>(() => stats.Accumulate(SlotCounts.FromArray(new long[10], PadPolicy.IncludePadding)));
    }

    [Fact]
    public void Save_then_load_round_trips()
    {
        var stats = Sample();
        string path = Path.Combine(_dir, "bg.safetensors");
        stats.Save(path);
        stats.Save(path); // overwrite is fine
        Assert.Single(Directory.GetFiles(_dir));

        var loaded = BackgroundStats.Load(path, expectedSlotCount: 10);
        Assert.Equal(stats.NumBatches, loaded.NumBatches);
        Assert.Equal(stats.DocumentFrequency.ToArray(), loaded.DocumentFrequency.ToArray());
        Assert.Equal(stats.TotalCounts.ToArray(), loaded.TotalCounts.ToArray());
        Assert.Equal("abc123", loaded.ModelFingerprint);
        Assert.Equal(PadPolicy.ExcludePadding, loaded.PadPolicy);
        Assert.Equal(stats.CreatedAt, loaded.CreatedAt);
        Assert.Equal(1, loaded.FormatVersion);
        loaded.EnsureMatches("ABC123", path);

        // The file is a safetensors file: 8-byte length, then a JSON header.
        byte[] bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(bytes, 0);
        string header = System.Text.Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.Contains("\"dtype\":\"I64\"", header, StringComparison.Ordinal);
        Assert.Equal(8 + n + (2 * 10 * 8), bytes.Length);
    }

    [Fact]
    public void Truncated_file_is_rejected_naming_file_and_fix()
    {
        string path = Path.Combine(_dir, "bg.safetensors");
        Sample().Save(path);
        byte[] bytes = File.ReadAllBytes(path);
        foreach (int keep in new[] { 0, 5, 20, bytes.Length - 1 })
        {
            File.WriteAllBytes(path, bytes[..keep]);
            var e = Assert.Throws<InvalidDataException>(() => BackgroundStats.Load(path));
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
            Assert.Contains("smf background", e.Message, StringComparison.Ordinal);
        }

        File.WriteAllBytes(path, [.. bytes[..8], .. "{not json"u8.ToArray(), .. new byte[200]]);
        Assert.Throws<InvalidDataException>(() => BackgroundStats.Load(path));
    }

    [Fact]
    public void Wrong_version_or_slot_count_is_rejected()
    {
        string path = Path.Combine(_dir, "bg.safetensors");
        Sample().Save(path);
        var e = Assert.Throws<InvalidDataException>(() => BackgroundStats.Load(path, expectedSlotCount: 11));
        Assert.Contains("11", e.Message, StringComparison.Ordinal);

        var meta = new Dictionary<string, string>
        {
            ["format"] = "smf-background-stats",
            ["format_version"] = "2",
            ["model_fingerprint"] = "x",
            ["slot_count"] = "2",
            ["num_batches"] = "1",
            ["pad_policy"] = "ExcludePadding",
            ["created_at"] = DateTimeOffset.UtcNow.ToString("O"),
        };
        SafeTensors.SaveInt64(path, [("df", [1, 0]), ("counts", [2, 0])], meta);
        var v = Assert.Throws<InvalidDataException>(() => BackgroundStats.Load(path));
        Assert.Contains("version 2", v.Message, StringComparison.Ordinal);

        meta["format_version"] = "1";
        SafeTensors.SaveInt64(path, [("df", [2, 0]), ("counts", [2, 0])], meta);
        Assert.Throws<InvalidDataException>(() => BackgroundStats.Load(path)); // df > |B|
    }

    [Fact]
    public void Fingerprint_mismatch_names_both_checkpoints()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Sample().EnsureMatches("def456", "/tmp/bg.safetensors"));
        Assert.Equal(
            "background stats /tmp/bg.safetensors were computed for checkpoint abc123, but the model is def456; re-run `smf background --model DIR`.",
            e.Message);
    }
}
