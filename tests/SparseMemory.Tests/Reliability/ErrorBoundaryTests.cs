using System.CommandLine;
using SparseMemory.Checkpoints;
using SparseMemory.Cli;
using SparseMemory.Tests.Finetuning;
using TorchSharp;
using Xunit;

namespace SparseMemory.Tests.Reliability;

/// <summary>
/// The CLI's error boundary: no input gives a stack trace. Input errors are one line and exit 2; anything else is one
/// line calling it a bug, naming a log file with the trace, exit 1; --verbose prints the trace.
/// </summary>
public sealed class ErrorBoundaryTests(FinetuneFixture fx) : IClassFixture<FinetuneFixture>
{
    static (int Code, string Out, string Err) Invoke(RootCommand root, params string[] args)
    {
        lock (Smf.ConsoleLock)                                   // the console is process-wide (Smf.ConsoleLock)
        {
            var (o, e) = (Console.Out, Console.Error);
            var (so, se) = (new StringWriter(), new StringWriter());
            Console.SetOut(so); Console.SetError(se);
            try { return (CliRunner.Invoke(root, args), so.ToString(), se.ToString()); }
            finally { Console.SetOut(o); Console.SetError(e); }
        }
    }

    static RootCommand Throwing(Action action)
    {
        var cmd = new Command("boom", "throws");
        cmd.SetAction(_ => { action(); return 0; });
        return new RootCommand("test") { cmd };
    }

    // Before: a NullReferenceException escaped Invoke (an unhandled exception with its trace, exit code 134/e0434352).
    [Fact]
    public void An_unexpected_exception_is_one_line_naming_a_log_with_the_trace_and_exit_code_1()
    {
        var (code, _, err) = Invoke(Throwing(() => throw new NullReferenceException("object was null")), "boom");
        Assert.Equal(CliRunner.BugCode, code);
        string line = Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("a bug in smf", line);
        Assert.Contains("object was null", line);
        string log = line[(line.IndexOf("full trace in ", StringComparison.Ordinal) + "full trace in ".Length)..].Split(' ')[0];
        Assert.True(File.Exists(log), log);
        Assert.Contains("   at ", File.ReadAllText(log));
        File.Delete(log);
    }

    [Fact]
    public void Verbose_prints_the_full_trace()
    {
        var (code, _, err) = Invoke(Throwing(() => throw new InvalidDataException("x.bin: broken")), "boom", "--verbose");
        Assert.Equal(CliRunner.InputErrorCode, code);
        Assert.StartsWith("error: x.bin: broken", err);
        Assert.Contains("   at ", err);
        var (code2, _, err2) = Invoke(Throwing(() => throw new InvalidDataException("x.bin: broken")), "boom");
        Assert.Equal(CliRunner.InputErrorCode, code2);
        Assert.DoesNotContain("   at ", err2);
    }

    [Fact]
    public void A_libtorch_native_error_is_still_one_line()
    {
        var (code, _, err) = Invoke(Throwing(() =>
        {
            using var weight = torch.zeros(4, 2);
            using var ids = torch.tensor(new long[] { 9 });
            weight.index_select(0, ids).Dispose();
        }), "boom");
        Assert.NotEqual(0, code);
        string line = Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("index out of range", line);
    }

    public static TheoryData<string> Verbs => new(["generate", "eval", "background", "finetune", "diff", "bench", "pretrain"]);

    // Before: pretrain on a truncated run folder and finetune created folders first; every verb printed one line
    // already except where a JsonException or native error escaped the handler (the bug path, new).
    [Theory]
    [MemberData(nameof(Verbs))]
    public void Every_verb_given_a_truncated_model_exits_nonzero_with_one_line_naming_the_file(string verb)
    {
        string dir = Path.Combine(fx.Root, "trunc-" + verb);
        Directory.CreateDirectory(dir);
        foreach (string f in Directory.GetFiles(fx.BaseDir).Where(f => !f.EndsWith("background.safetensors", StringComparison.Ordinal)))
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        string weights = Path.Combine(dir, Checkpoint.ModelFile);
        File.WriteAllBytes(weights, File.ReadAllBytes(weights)[..(int)(new FileInfo(weights).Length * 2 / 3)]);
        string outDir = Path.Combine(fx.Root, "trunc-out-" + verb);
        string[] args = verb switch
        {
            "generate" => ["generate", "--model", dir, "--prompt", "Ada"],
            "eval" => ["eval", "--model", dir, "--probes", "target-f1", "--limit", "2"],
            "background" => ["background", "--model", dir, "--batches", "2", "--out", Path.Combine(outDir, "bg.safetensors")],
            "finetune" => ["finetune", "--model", dir, "--method", "full", "--data", fx.FactsPath, "--steps", "1", "--out", outDir, "--set", "probes=[]"],
            "diff" => ["diff", fx.BaseDir, dir],
            "bench" => ["bench", "--model", dir, "--data", fx.FactsPath, "--rounds", "1", "--steps", "1", "--warmup", "1"],
            _ => ["pretrain", "--config", WriteConfig(dir), "--out", dir],
        };
        var (code, _, err) = Smf.Run(args);
        Assert.NotEqual(0, code);
        string line = Assert.Single(err.Trim().Split('\n'), l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.Contains(weights, line);
        Assert.DoesNotContain("   at ", err);
        Assert.False(Directory.Exists(outDir));
    }

    /// <summary>The frozen config of the copied base run, so pretrain resumes it (and meets the truncated weights).</summary>
    static string WriteConfig(string dir)
    {
        string path = Path.Combine(Path.GetDirectoryName(dir)!, "trunc-pretrain.json");
        File.Copy(Path.Combine(dir, Checkpoint.ConfigFile), path, overwrite: true);
        File.Delete(Path.Combine(dir, RunFolder.SummaryFile));
        return path;
    }
}
