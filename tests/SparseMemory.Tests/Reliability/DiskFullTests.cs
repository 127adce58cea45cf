using System.Diagnostics;
using SparseMemory.Checkpoints;
using SparseMemory.Runs;
using SparseMemory.Training;
using Xunit;

namespace SparseMemory.Tests.Reliability;

/// <summary>
/// A fact that mounts a small tmpfs; skipped, with the reason, where mounting is not allowed (not Linux, not root, or
/// a container without CAP_SYS_ADMIN). xunit 2.9 has no dynamic skip, so the check runs when the attribute is built.
/// </summary>
public sealed class TmpfsFactAttribute : FactAttribute
{
    public TmpfsFactAttribute()
    {
        if (Tmpfs.Unavailable is { } why) Skip = $"disk-full test skipped: {why}";
    }
}

/// <summary>Mounting and unmounting a size-limited tmpfs with mount(8).</summary>
internal static class Tmpfs
{
    static readonly Lazy<string?> Probe = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return "tmpfs mounts need Linux";
        if (Environment.UserName != "root") return "mounting a tmpfs needs root";
        string dir = Fixtures.TempDir("tmpfs-probe");
        try
        {
            if (!Mount(dir, 64 * 1024, out string err)) return $"mount -t tmpfs is not allowed here ({err.Trim()})";
            Unmount(dir);
            return null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException) { return $"mount(8) cannot be run ({e.Message})"; }
    });

    public static string? Unavailable => Probe.Value;

    static bool Run(string file, string args, out string err)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0;
    }

    public static bool Mount(string dir, long bytes, out string err) => Run("mount", $"-t tmpfs -o size={bytes} tmpfs {dir}", out err);

    public static void Unmount(string dir) => Run("umount", dir, out _);
}

/// <summary>
/// A full disk while a checkpoint is written: smf stops with one line (exit 2), the folder keeps its last complete
/// checkpoint, and once there is room again (here: the folder copied to a normal disk) the run resumes to the same
/// result as an uninterrupted run.
/// </summary>
public sealed class DiskFullTests
{
    [TmpfsFact]
    public void A_full_disk_while_checkpointing_is_one_line_and_the_folder_resumes_to_the_identical_run()
    {
        string root = Fixtures.TempDir("diskfull");
        var cfg = Fixtures.TinyConfig(Fixtures.WriteCorpus(root), steps: 12);
        string cfgFile = Path.Combine(root, "cfg.json");
        RunFolder.SaveConfig(cfg, cfgFile);
        string full = Path.Combine(root, "full");
        Pretraining.Run(cfg, full, NullObserver.Instance);
        long checkpointBytes = Directory.GetFiles(full).Sum(f => new FileInfo(f).Length);

        string mount = Path.Combine(root, "small");
        Directory.CreateDirectory(mount);
        // Room for the first checkpoint and the files before it, not for the second one staged beside it.
        Assert.True(Tmpfs.Mount(mount, checkpointBytes * 3 / 2, out string err), err);
        string crashed = Path.Combine(root, "resumed");
        try
        {
            string run = Path.Combine(mount, "run");
            var (code, _, stderr) = Smf.Run("pretrain", "--config", cfgFile, "--out", run);
            Assert.Equal(2, code);
            string line = Assert.Single(stderr.Trim().Split('\n'), l => l.StartsWith("error:", StringComparison.Ordinal));
            Assert.Contains("space", line, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("   at ", stderr);
            Directory.CreateDirectory(crashed);
            foreach (string f in Directory.GetFiles(run)) File.Copy(f, Path.Combine(crashed, Path.GetFileName(f)));
        }
        finally { Tmpfs.Unmount(mount); }

        Pretraining.Run(cfg, crashed, NullObserver.Instance);
        foreach (string f in TrainingCheckpoint.Files.Where(f => File.Exists(Path.Combine(full, f))))
            Assert.True(File.ReadAllBytes(Path.Combine(full, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(crashed, f))), f);
        Assert.DoesNotContain(Directory.GetFiles(crashed), p => p.EndsWith(TrainingCheckpoint.StagedSuffix, StringComparison.Ordinal) || AtomicFile.IsTempName(Path.GetFileName(p)));
    }
}
