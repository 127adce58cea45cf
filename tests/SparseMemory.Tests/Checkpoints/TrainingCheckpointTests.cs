using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Runs;
using SparseMemory.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Checkpoints;

/// <summary>The commit protocol of a training checkpoint, on hand-made snapshots and on folder states built directly.</summary>
public sealed class TrainingCheckpointTests
{
    static TrainingSnapshot Snapshot(int step, float value, byte optimizerByte) => new(
        new TrainerState { Step = step, TotalSteps = 10, Method = "full", Tokens = step * 100L },
        [("w", torch.full(3, value))],
        null,
        s => s.Write([optimizerByte, optimizerByte]));

    static (TrainerState? State, float W, byte[] Optimizer) ResumeTiny(string dir)
    {
        var w = torch.zeros(3);
        byte[] opt = [];
        var (state, _) = TrainingCheckpoint.Resume(dir, new TrainingRestore("full", [("w", w)], null, (s, _) =>
        {
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            opt = ms.ToArray();
        }), totalSteps: 10);
        return (state, w[0].item<float>(), opt);
    }

    static string[] Names(string dir) => Directory.GetFiles(dir).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal).ToArray();

    static readonly string[] CommittedFiles = ["model.safetensors", "optimizer.bin", "trainer_state.json"];

    [Fact]
    public void Save_then_resume_round_trips_and_leaves_only_the_checkpoint_files()
    {
        string dir = Fixtures.TempDir("tc");
        TrainingCheckpoint.Save(dir, Snapshot(2, 1f, 7));
        TrainingCheckpoint.Save(dir, Snapshot(4, 2f, 9));
        Assert.Equal(CommittedFiles, Names(dir));
        var (state, w, opt) = ResumeTiny(dir);
        Assert.Equal(4, state!.Step);
        Assert.Equal(400, state.Tokens);
        Assert.Equal(2f, w);
        Assert.Equal(new byte[] { 9, 9 }, opt);
        Assert.Equal("4", SafeTensors.ReadMetadata(Path.Combine(dir, Checkpoint.ModelFile))["step"]);
    }

    [Fact]
    public void An_empty_folder_resumes_from_nothing()
    {
        var (state, recovery) = TrainingCheckpoint.Resume(Fixtures.TempDir("tc"), new TrainingRestore("full", [], null, (_, _) => { }), 10);
        Assert.Null(state);
        Assert.True(recovery.Clean);
    }

    [Fact]
    public void A_full_disk_while_staging_keeps_the_previous_checkpoint()
    {
        string dir = Fixtures.TempDir("tc");
        TrainingCheckpoint.Save(dir, Snapshot(2, 1f, 7));
        var before = CommittedFiles.ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(dir, f)));
        var failing = Snapshot(4, 2f, 9) with { SaveOptimizer = s => { s.Write(new byte[100]); throw new IOException("No space left on device"); } };
        Assert.Throws<IOException>(() => TrainingCheckpoint.Save(dir, failing));
        // The staged weights of step 4 are there, the optimizer's temp file is not (the atomic write removed it).
        Assert.Equal(["model.safetensors", "model.safetensors.next", "optimizer.bin", "trainer_state.json"], Names(dir));

        var (state, w, opt) = ResumeTiny(dir);
        Assert.Equal(2, state!.Step);
        Assert.Equal(1f, w);
        Assert.Equal(new byte[] { 7, 7 }, opt);
        Assert.Equal(CommittedFiles, Names(dir));
        foreach (var (f, bytes) in before) Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(dir, f)));
    }

    /// <summary>Every point of a commit: the folder recovers to step 2 before the commit record exists and to step 4 after.</summary>
    [Theory]
    [InlineData("staged:model.safetensors", 2)]
    [InlineData("staged:optimizer.bin", 2)]
    [InlineData("staged:trainer_state.json", 2)]
    [InlineData("committed", 4)]
    [InlineData("installed:model.safetensors", 4)]
    [InlineData("installed:optimizer.bin", 4)]
    [InlineData("installed:trainer_state.json", 4)]
    public void A_crash_at_any_point_of_the_commit_recovers_one_complete_checkpoint(string point, int expectedStep)
    {
        string dir = Fixtures.TempDir("tc");
        TrainingCheckpoint.Save(dir, Snapshot(2, 1f, 7));
        using (Crash.At(point)) Assert.Throws<Crash.Simulated>(() => TrainingCheckpoint.Save(dir, Snapshot(4, 2f, 9)));
        // What a kill leaves: the previous files untouched until the commit point, a mix of old and new after it.
        bool committed = expectedStep == 4;
        Assert.Equal(committed, File.Exists(Path.Combine(dir, TrainingCheckpoint.CommitFile)));

        var recovery = TrainingCheckpoint.Recover(dir);
        Assert.Equal(committed ? 4 : null, recovery.RolledForwardStep);
        Assert.Equal(committed, recovery.DiscardedStagedFiles.Count == 0);
        Assert.Equal(CommittedFiles, Names(dir));
        var (state, w, opt) = ResumeTiny(dir);
        Assert.Equal(expectedStep, state!.Step);
        Assert.Equal(committed ? 2f : 1f, w);
        Assert.Equal(committed ? new byte[] { 9, 9 } : [7, 7], opt);
    }

    [Fact]
    public void A_crash_while_rolling_forward_is_rolled_forward_again()
    {
        string dir = Fixtures.TempDir("tc");
        TrainingCheckpoint.Save(dir, Snapshot(2, 1f, 7));
        using (Crash.At("committed")) Assert.Throws<Crash.Simulated>(() => TrainingCheckpoint.Save(dir, Snapshot(4, 2f, 9)));
        using (Crash.At("installed:model.safetensors")) Assert.Throws<Crash.Simulated>(() => TrainingCheckpoint.Recover(dir));
        var (state, w, opt) = ResumeTiny(dir);
        Assert.Equal(4, state!.Step);
        Assert.Equal(2f, w);
        Assert.Equal(new byte[] { 9, 9 }, opt);
        Assert.Equal(CommittedFiles, Names(dir));
    }

    [Fact]
    public void The_next_save_first_finishes_a_commit_that_an_earlier_save_left_pending()
    {
        string dir = Fixtures.TempDir("tc");
        TrainingCheckpoint.Save(dir, Snapshot(2, 1f, 7));
        using (Crash.At("installed:model.safetensors")) Assert.Throws<Crash.Simulated>(() => TrainingCheckpoint.Save(dir, Snapshot(4, 2f, 9)));
        TrainingCheckpoint.Save(dir, Snapshot(6, 3f, 11));
        Assert.Equal(CommittedFiles, Names(dir));
        Assert.Equal(6, ResumeTiny(dir).State!.Step);
    }

    [Fact]
    public void Recovery_removes_leftover_temp_files_and_stray_staged_files()
    {
        string dir = Fixtures.TempDir("tc");
        TrainingCheckpoint.Save(dir, Snapshot(2, 1f, 7));
        string[] junk =
        [
            $"model.safetensors.next.tmp-{int.MaxValue}-{Guid.NewGuid():N}",
            $"{TrainingCheckpoint.CommitFile}.tmp-{int.MaxValue}-{Guid.NewGuid():N}",
            "optimizer.bin.tmp", "optimizer.bin.next",
        ];
        foreach (var j in junk) File.WriteAllText(Path.Combine(dir, j), "partial");
        var recovery = TrainingCheckpoint.Recover(dir);
        Assert.Null(recovery.RolledForwardStep);
        Assert.Equal(["optimizer.bin.next"], recovery.DiscardedStagedFiles);
        Assert.Equal(3, recovery.RemovedTempFiles.Count);
        Assert.Contains("removed 3 leftover temp files", recovery.ToString());
        Assert.Equal(CommittedFiles, Names(dir));
        Assert.True(TrainingCheckpoint.Recover(dir).Clean);
    }

    [Fact]
    public void A_damaged_commit_record_is_an_error_naming_it()
    {
        string dir = Fixtures.TempDir("tc");
        TrainingCheckpoint.Save(dir, Snapshot(2, 1f, 7));
        string record = Path.Combine(dir, TrainingCheckpoint.CommitFile);
        File.WriteAllText(record, "{\"step\": 4, \"fil");
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Recover(dir));
        Assert.Contains(record, e.Message);
        File.WriteAllText(record, """{"step": 4, "files": ["../../etc/passwd"]}""");
        e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Recover(dir));
        Assert.Contains("not checkpoint files", e.Message);
    }

    [Fact]
    public void Files_of_two_checkpoints_are_refused_on_resume()
    {
        string a = Fixtures.TempDir("tc"), b = Fixtures.TempDir("tc");
        TrainingCheckpoint.Save(a, Snapshot(2, 1f, 7));
        TrainingCheckpoint.Save(b, Snapshot(4, 2f, 9));
        File.Copy(Path.Combine(b, Checkpoint.ModelFile), Path.Combine(a, Checkpoint.ModelFile), overwrite: true);
        var e = Assert.Throws<InvalidDataException>(() => ResumeTiny(a));
        Assert.Contains("model.safetensors is from step 4 but trainer_state.json says 2", e.Message);
    }

    [Fact]
    public void A_checkpoint_of_another_method_is_refused()
    {
        string dir = Fixtures.TempDir("tc");
        TrainingCheckpoint.Save(dir, Snapshot(2, 1f, 7));
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Resume(dir, new TrainingRestore("lora", [], null, (_, _) => { }), 10));
        Assert.Contains("used method full, not lora", e.Message);
    }
}

/// <summary>Crashes the commit at a named point (<see cref="TrainingCheckpoint.FaultInjection"/>), at its n-th occurrence.</summary>
internal static class Crash
{
    public sealed class Simulated(string point) : Exception($"simulated crash after {point}");

    public static IDisposable At(string point, int occurrence = 1)
    {
        int seen = 0;
        TrainingCheckpoint.FaultInjection.Value = p => { if (p == point && ++seen == occurrence) throw new Simulated(p); };
        return new Reset();
    }

    /// <summary>Records every point passed, in order.</summary>
    public static IDisposable Record(List<string> into)
    {
        TrainingCheckpoint.FaultInjection.Value = into.Add;
        return new Reset();
    }

    sealed class Reset : IDisposable
    {
        public void Dispose() => TrainingCheckpoint.FaultInjection.Value = null;
    }
}
