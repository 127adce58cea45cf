using SparseMemory.Checkpoints;
using SparseMemory.Config;
using Xunit;

namespace SparseMemory.Tests.Checkpoints;

public sealed class AtomicFileTests
{
    static string Guid32() => Guid.NewGuid().ToString("N");

    static string[] Names(string dir) => Directory.GetFiles(dir).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void Write_replaces_the_target_and_leaves_no_temp_file()
    {
        string dir = Fixtures.TempDir("atomic");
        string f = Path.Combine(dir, "a.json");
        AtomicFile.WriteAllText(f, "one");
        AtomicFile.WriteAllText(f, "two");
        Assert.Equal("two", File.ReadAllText(f));
        Assert.Equal(new[] { "a.json" }, Names(dir));
    }

    [Fact]
    public void A_failing_write_keeps_the_old_file_and_removes_its_temp_file()
    {
        string dir = Fixtures.TempDir("atomic");
        string f = Path.Combine(dir, "a.bin");
        AtomicFile.WriteAllBytes(f, [1, 2, 3]);
        Assert.Throws<IOException>(() => AtomicFile.Write(f, s =>
        {
            s.Write(new byte[1000]);
            throw new IOException("No space left on device");
        }));
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(f));
        Assert.Equal(new[] { "a.bin" }, Names(dir));
    }

    [Fact]
    public void Write_creates_the_folder_and_copy_is_atomic_too()
    {
        string dir = Path.Combine(Fixtures.TempDir("atomic"), "sub", "deeper");
        string f = Path.Combine(dir, "a.txt");
        AtomicFile.WriteAllText(f, "x");
        AtomicFile.Copy(f, Path.Combine(dir, "b.txt"));
        Assert.Equal("x", File.ReadAllText(Path.Combine(dir, "b.txt")));
        AtomicFile.SyncDirectory(dir);                                // a folder fsync succeeds (or is a no-op off Linux/macOS)
    }

    [Fact]
    public void Temp_names_are_recognizable()
    {
        string tmp = Path.GetFileName(AtomicFile.TempPathFor("/x/model.safetensors"));
        Assert.StartsWith($"model.safetensors.tmp-{Environment.ProcessId}-", tmp);
        Assert.True(AtomicFile.IsTempName(tmp));
        Assert.False(AtomicFile.IsTempName("model.safetensors"));
        Assert.False(AtomicFile.IsTempName("notes.tmp-draft"));
    }

    [Fact]
    public void DeleteLeftovers_removes_temp_files_of_ended_processes_and_this_one_and_keeps_everything_else()
    {
        string dir = Fixtures.TempDir("atomic");
        string[] leftovers =
        [
            $"model.safetensors.tmp-{int.MaxValue}-{Guid32()}",        // no such process
            $"config.json.tmp-{Environment.ProcessId}-{Guid32()}",     // this process (a crash before a restart under the same pid)
            "optimizer.bin.tmp",                                       // earlier versions' names
            "trainer_state.json.tmp4242",
        ];
        string[] kept = ["model.safetensors", "notes.tmp", "a.tmp-draft", "metrics.jsonl", "optimizer.bin.tmp-1-short"];
        foreach (var n in leftovers.Concat(kept)) File.WriteAllText(Path.Combine(dir, n), "x");
        string? live = Environment.ProcessId != 1 ? $"summary.json.tmp-1-{Guid32()}" : null;   // pid 1 runs; its writes are in flight
        if (live is not null) File.WriteAllText(Path.Combine(dir, live), "x");

        var deleted = AtomicFile.DeleteLeftovers(dir);

        Assert.Equal(leftovers.Order(StringComparer.Ordinal), deleted.Order(StringComparer.Ordinal));
        string[] expected = live is null ? kept : [.. kept, live];
        Assert.Equal(expected.Order(StringComparer.Ordinal), Names(dir));
        Assert.Empty(AtomicFile.DeleteLeftovers(Path.Combine(dir, "missing")));
    }

    [Fact]
    public void A_folder_holding_only_a_leftover_temp_file_is_a_new_run_folder()
    {
        string dir = Fixtures.TempDir("runfolder");
        File.WriteAllText(Path.Combine(dir, $"config.json.tmp-{int.MaxValue}-{Guid32()}"), "{");   // killed while freezing the config
        var cfg = Fixtures.TinyConfig("corpus.txt");
        var prepared = RunFolder.Prepare(cfg, dir);
        Assert.Equal(ConfigLoader.ToJson(cfg), ConfigLoader.ToJson(prepared));
        Assert.Equal(new[] { "config.json" }, Names(dir));
    }
}
