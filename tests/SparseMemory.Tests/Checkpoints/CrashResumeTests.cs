using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Finetuning;
using SparseMemory.Runs;
using SparseMemory.Tests.Finetuning;
using SparseMemory.Training;
using Xunit;

namespace SparseMemory.Tests.Checkpoints;

/// <summary>
/// Real runs killed at every point of a checkpoint commit, then resumed: the final checkpoint files are byte-identical
/// to an uninterrupted run's and so are the metrics rows (wall-clock fields aside).
/// </summary>
public sealed class CrashResumeTests(FinetuneFixture fx) : IClassFixture<FinetuneFixture>
{
    /// <summary>The points of one commit without adapters, in order.</summary>
    static readonly string[] Points =
    [
        "staged:model.safetensors", "staged:optimizer.bin", "staged:trainer_state.json", "committed",
        "installed:model.safetensors", "installed:optimizer.bin", "installed:trainer_state.json",
    ];

    /// <summary>The points of one commit of a method with trainable state (LoRA), in order.</summary>
    static readonly string[] PointsWithTrainableState =
    [
        "staged:model.safetensors", "staged:trainable_state.safetensors", "staged:optimizer.bin", "staged:trainer_state.json", "committed",
        "installed:model.safetensors", "installed:trainable_state.safetensors", "installed:optimizer.bin", "installed:trainer_state.json",
    ];

    public static TheoryData<string> PretrainPoints => new(Points);
    public static TheoryData<string> LoraPoints => new(PointsWithTrainableState);

    static readonly Lazy<(PretrainConfig Config, string Root, string Full, List<string> Seen)> Pretrained = new(() =>
    {
        string root = Fixtures.TempDir("crash-pre");
        var cfg = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 12);            // checkpoints at 4, 8 and 12
        var seen = new List<string>();
        using (Crash.Record(seen)) Pretraining.Run(cfg, Path.Combine(root, "full"), NullObserver.Instance);
        return (cfg, root, Path.Combine(root, "full"), seen);
    });

    /// <summary>The step of the one complete checkpoint a crashed folder holds, found on a copy (the original is resumed as is).</summary>
    static int CommittedStep(string dir)
    {
        string copy = Fixtures.TempDir("crash-copy");
        foreach (string f in Directory.GetFiles(dir)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        TrainingCheckpoint.Recover(copy);
        var state = TrainingCheckpoint.ReadState(copy)!;
        Assert.Equal(state.Step.ToString(), SafeTensors.ReadMetadata(Path.Combine(copy, Checkpoint.ModelFile))["step"]);
        return state.Step;
    }

    [Fact]
    public void A_commit_passes_its_points_in_order()
    {
        var seen = Pretrained.Value.Seen;
        Assert.Equal(Points.Concat(Points).Concat(Points), seen);   // three checkpoints
    }

    [Theory]
    [MemberData(nameof(PretrainPoints))]
    public void Pretraining_killed_at_any_point_of_a_commit_resumes_to_the_identical_run(string point)
    {
        var (cfg, root, full, _) = Pretrained.Value;
        string crashed = Path.Combine(root, "crashed-" + point.Replace(':', '-'));
        using (Crash.At(point, occurrence: 2)) Assert.Throws<Crash.Simulated>(() => Pretraining.Run(cfg, crashed, NullObserver.Instance));
        Assert.Equal(point.StartsWith("staged:", StringComparison.Ordinal) ? 4 : 8, CommittedStep(crashed));
        Pretraining.Run(cfg, crashed, NullObserver.Instance);
        RunAssert.SameRun(full, crashed);
    }

    [Fact]
    public void Pretraining_killed_while_committing_its_last_checkpoint_completes_on_rerun()
    {
        var (cfg, root, full, _) = Pretrained.Value;
        string crashed = Path.Combine(root, "crashed-last");
        using (Crash.At("installed:model.safetensors", occurrence: 3)) Assert.Throws<Crash.Simulated>(() => Pretraining.Run(cfg, crashed, NullObserver.Instance));
        var messages = new List<string>();
        Pretraining.Run(cfg, crashed, new Messages(messages));
        Assert.Contains(messages, m => m.Contains("completed the interrupted commit of the step-12 checkpoint"));
        Assert.Contains(messages, m => m.Contains("already complete"));
        RunAssert.SameRun(full, crashed);
        Assert.True(File.Exists(Path.Combine(crashed, RunFolder.SummaryFile)));
    }

    [Fact]
    public void Temp_files_left_by_a_killed_run_are_removed_when_it_resumes()
    {
        var (cfg, root, full, _) = Pretrained.Value;
        string crashed = Path.Combine(root, "crashed-temp");
        using (Crash.At("staged:optimizer.bin", occurrence: 2)) Assert.Throws<Crash.Simulated>(() => Pretraining.Run(cfg, crashed, NullObserver.Instance));
        // What a kill in the middle of atomic writes leaves (this version's and an earlier version's names).
        string[] temps = [$"optimizer.bin.next.tmp-{int.MaxValue}-{Guid.NewGuid():N}", $"summary.json.tmp-{int.MaxValue}-{Guid.NewGuid():N}", "optimizer.bin.tmp"];
        foreach (var t in temps) File.WriteAllBytes(Path.Combine(crashed, t), new byte[64]);
        Pretraining.Run(cfg, crashed, NullObserver.Instance);
        foreach (var t in temps) Assert.False(File.Exists(Path.Combine(crashed, t)), t);
        RunAssert.SameRun(full, crashed);
    }

    sealed class Messages(List<string> into) : ITrainingObserver
    {
        public void OnStep(StepReport r) { }
        public void OnEval(int s, IReadOnlyDictionary<string, double> m) { }
        public void OnMessage(string m) => into.Add(m);
    }

    FinetuneConfig FinetuneConfig(string method, params string[] sets) =>
        ConfigLoader.Load<FinetuneConfig>(sets: new[] { $"base_model={fx.BaseDir}", $"method={method}", $"data.facts={fx.FactsPath}", "data.paraphrases=4", "checkpoint_every=2", "probes=[]", "steps=5" }.Concat(sets));

    void FinetuneKilledAt(string point, string method, params string[] sets)
    {
        var cfg = FinetuneConfig(method, sets);
        string tag = $"{method}-{string.Join("-", sets)}-{point.Replace(':', '-')}";
        string full = Path.Combine(fx.Root, "crash-full-" + tag), crashed = Path.Combine(fx.Root, "crash-" + tag);
        var seen = new List<string>();
        using (Crash.Record(seen)) FinetuneRun.Run(cfg, full, NullObserver.Instance);       // checkpoints at 2, 4 and 5
        Assert.Equal(3, seen.Count(p => p == "committed"));
        using (Crash.At(point, occurrence: 2)) Assert.Throws<Crash.Simulated>(() => FinetuneRun.Run(cfg, crashed, NullObserver.Instance));
        Assert.Equal(point.StartsWith("staged:", StringComparison.Ordinal) ? 2 : 4, CommittedStep(crashed));
        FinetuneRun.Run(cfg, crashed, NullObserver.Instance);
        RunAssert.SameRun(full, crashed);
    }

    [Theory]
    [MemberData(nameof(LoraPoints))]
    public void Lora_finetuning_killed_at_any_point_of_a_commit_resumes_to_the_identical_run(string point) =>
        FinetuneKilledAt(point, LoraMethod.Spec.Name, "lr=0.01");

    [Theory]
    [MemberData(nameof(PretrainPoints))]
    public void Sparse_finetuning_with_row_adamw_killed_at_any_point_of_a_commit_resumes_to_the_identical_run(string point) =>
        FinetuneKilledAt(point, SparseMemoryMethod.Spec.Name, "lr=0.5", "sparse.optimizer=adam_w");
}
