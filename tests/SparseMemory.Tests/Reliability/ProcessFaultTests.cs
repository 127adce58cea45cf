using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Finetuning;
using SparseMemory.Tests.Finetuning;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Reliability;

/// <summary>
/// Fault injection with the real process: the built <c>smf</c> is killed with SIGKILL at every point of a checkpoint
/// commit (<c>SMF_FAULT_POINT</c>, which makes it kill itself there) and at seeded random times, then the same command
/// is run again; the result must be byte-identical to an uninterrupted run (<c>model.safetensors</c> and the other
/// checkpoint files; metrics rows without their wall-clock fields) with no staged, record or temp files left.
/// The CI part takes about a minute on 2 cores; <c>SMF_LONG_TESTS=1</c> adds the long form (every point of
/// finetuning commits, 24 random kills).
/// </summary>
public sealed class ProcessFaultTests(FinetuneFixture fx, ITestOutputHelper output) : IClassFixture<FinetuneFixture>
{
    static bool Long => Environment.GetEnvironmentVariable("SMF_LONG_TESTS") == "1";

    static readonly string[] Points =
    [
        "staged:model.safetensors", "staged:optimizer.bin", "staged:trainer_state.json", "committed",
        "installed:model.safetensors", "installed:optimizer.bin", "installed:trainer_state.json",
    ];

    public static TheoryData<string> AllPoints => new(Points);

    /// <summary>Points run in CI for finetuning (all of them with SMF_LONG_TESTS=1): one before and one after the commit.</summary>
    public static TheoryData<string> FinetunePoints => new(Long ? Points : ["staged:optimizer.bin", "installed:model.safetensors"]);

    public static TheoryData<string, int> RandomCases()
    {
        var d = new TheoryData<string, int>();
        int n = Long ? 8 : 1;
        foreach (string kind in new[] { "pretrain", "finetune", "background" })
            for (int seed = 1; seed <= n; seed++) d.Add(kind, seed);
        return d;
    }

    // ------------------------------------------------------------------ the commands

    static readonly Lazy<string> PretrainConfig = new(() =>
    {
        string root = Fixtures.TempDir("proc-pre");
        string file = Path.Combine(root, "cfg.json");
        var cfg = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 12) with { Threads = 1 };   // checkpoints at 4, 8, 12
        RunFolder.SaveConfig(cfg, file);
        return file;
    });

    string[] Command(string kind, string outPath) => kind switch
    {
        "pretrain" => ["pretrain", "--config", PretrainConfig.Value, "--out", outPath],
        "finetune" => ["finetune", "--model", fx.BaseDir, "--method", SparseMemoryMethod.Spec.Name, "--lr", "0.5", "--data", fx.FactsPath,
            "--steps", "5", "--out", outPath, "--set", "sparse.optimizer=adam_w", "--set", "data.paraphrases=4", "--set", "checkpoint_every=2",
            "--set", "probes=[]", "--set", "threads=1"],
        _ => ["background", "--model", fx.BaseDir, "--batches", "30", "--batch-size", "4", "--seq-len", "16", "--out", outPath],
    };


    /// <summary>The uninterrupted run of a kind (once per test class instance and kind).</summary>
    (string Path, TimeSpan Elapsed) Reference(string kind)
    {
        lock (References)
        {
            if (References.TryGetValue((fx.Root, kind), out var r)) return r;
            string path = Path.Combine(fx.Root, "proc-ref-" + kind + (kind == "background" ? ".safetensors" : ""));
            var res = SmfProcess.Run(Command(kind, path));
            Assert.True(res.Code == 0, res.Err);
            return References[(fx.Root, kind)] = (path, res.Elapsed);
        }
    }

    static readonly Dictionary<(string, string), (string, TimeSpan)> References = [];

    // ------------------------------------------------------------------ checks

    static void AssertSameRun(string expected, string actual)
    {
        RunAssert.SameRun(expected, actual, Checkpoint.ConfigFile, Checkpoint.TokenizerFile);
        Assert.True(File.Exists(Path.Combine(actual, RunFolder.SummaryFile)));
    }

    /// <summary>Whether a run of <paramref name="kind"/> left its finished output at <paramref name="outPath"/>.</summary>
    static bool Finished(string kind, string outPath) =>
        kind == "background" ? File.Exists(outPath) : File.Exists(Path.Combine(outPath, RunFolder.SummaryFile));

    /// <summary>
    /// Runs the command, killed by the fault point (<paramref name="env"/>) or by the test after
    /// <paramref name="killAfter"/>, reruns it and compares with the uninterrupted run. A kill by the test counts only
    /// if it landed mid-way: the process was still running, died by SIGKILL and had not written its final output;
    /// otherwise nothing is compared and false is returned.
    /// </summary>
    bool KillResumeAndCompare(string kind, string outPath, IReadOnlyDictionary<string, string>? env, TimeSpan? killAfter)
    {
        var reference = Reference(kind);
        var killed = SmfProcess.Run(Command(kind, outPath), env, killAfter);
        bool finished = Finished(kind, outPath);
        output.WriteLine($"{kind}: exit {killed.Code} after {killed.Elapsed.TotalSeconds:F2} s (killed by the test: {killed.KilledByTest}; final output written: {finished})");
        if (env is not null) Assert.True(killed.Code == SmfProcess.KilledCode, $"expected a SIGKILL at the fault point, got exit {killed.Code}: {killed.Err}");
        else if (!(killed.KilledByTest && killed.Code == SmfProcess.KilledCode && !finished)) return false;
        var rerun = SmfProcess.Run(Command(kind, outPath));
        Assert.True(rerun.Code == 0, rerun.Err);
        if (kind == "background") AssertSameBackground(reference.Path, outPath);
        else AssertSameRun(reference.Path, outPath);
        return true;
    }

    /// <summary>Background files are equal but for their <c>created_at</c> stamp.</summary>
    static void AssertSameBackground(string expected, string actual)
    {
        var (et, em) = SafeTensors.LoadInt64(expected);
        var (at, am) = SafeTensors.LoadInt64(actual);
        Assert.Equal(et.Keys, at.Keys);
        foreach (var (k, v) in et) Assert.Equal(v, at[k]);
        em.Remove("created_at");
        am.Remove("created_at");
        Assert.Equal(em, am);
    }

    [Theory]
    [MemberData(nameof(AllPoints))]
    public void Pretraining_killed_by_sigkill_at_every_commit_point_resumes_to_the_identical_run(string point) =>
        Assert.True(KillResumeAndCompare("pretrain", Path.Combine(fx.Root, "proc-pre-" + point.Replace(':', '-')),
            new Dictionary<string, string> { [TrainingCheckpoint.FaultPointVariable] = point + ":2" }, null));

    [Theory]
    [MemberData(nameof(FinetunePoints))]
    public void Sparse_finetuning_killed_by_sigkill_at_a_commit_point_resumes_to_the_identical_run(string point) =>
        Assert.True(KillResumeAndCompare("finetune", Path.Combine(fx.Root, "proc-ft-" + point.Replace(':', '-')),
            new Dictionary<string, string> { [TrainingCheckpoint.FaultPointVariable] = point + ":2" }, null));

    [Theory]
    [MemberData(nameof(RandomCases))]
    public void Killed_at_a_random_time_and_rerun_gives_the_identical_result(string kind, int seed)
    {
        var reference = Reference(kind);
        // Seeded: a kill anywhere from process start-up to the end of an uninterrupted run.
        var rng = new Random(SeedMix.Mix(seed, kind.Length));
        var delay = TimeSpan.FromSeconds(0.1 + rng.NextDouble() * reference.Elapsed.TotalSeconds * 0.9);
        // The kill must land mid-way; a run that finished first (a faster machine moment) is retried, fresh, at half the delay.
        var tried = new List<string>();
        for (int attempt = 0; attempt < KillAttempts; attempt++, delay /= 2)
        {
            string outPath = Path.Combine(fx.Root, $"proc-rand-{kind}-{seed}-{attempt}" + (kind == "background" ? ".safetensors" : ""));
            if (KillResumeAndCompare(kind, outPath, null, delay)) return;
            tried.Add($"{delay.TotalSeconds:F2} s");
        }
        Assert.Fail($"{kind}: no kill landed mid-way (the run finished or exited normally before the kill at {string.Join(", ", tried)}; uninterrupted run {reference.Elapsed.TotalSeconds:F2} s)");
    }

    /// <summary>Fresh runs tried per random case, each at half the previous delay, until a kill lands mid-way.</summary>
    const int KillAttempts = 3;

    [Fact]
    public void A_malformed_fault_point_is_a_one_line_error()
    {
        var res = SmfProcess.Run(["generate", "--model", fx.BaseDir, "--prompt", "Ada"], new Dictionary<string, string> { [TrainingCheckpoint.FaultPointVariable] = "bogus:0" });
        Assert.Equal(2, res.Code);
        Assert.Contains(TrainingCheckpoint.FaultPointVariable, res.Err);
    }
}
