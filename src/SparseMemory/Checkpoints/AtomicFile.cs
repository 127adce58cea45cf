using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace SparseMemory.Checkpoints;

/// <summary>
/// The one atomic write of the project (docs/persistence.md). A file is written to a temp file in the same folder
/// (<c>NAME.tmp-PID-GUID</c>), flushed and fsync'd, renamed over the target, and then the folder itself is fsync'd so
/// the rename survives a power loss. Readers see either the old file or the new one, never a partial file. The temp
/// file is removed when writing fails; a crash can leave it behind, and <see cref="DeleteLeftovers"/> removes such
/// files when a run resumes.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>What separates the target name from the writer's process id and a GUID in a temp file's name.</summary>
    public const string TempMarker = ".tmp-";

    /// <summary>Our temp names: <c>NAME.tmp-PID-GUID</c> (32 hex digits).</summary>
    [GeneratedRegex(@"^.+\.tmp-(?<pid>[0-9]+)-[0-9a-f]{32}$", RegexOptions.CultureInvariant)]
    private static partial Regex TempName();

    /// <summary>Temp names of earlier versions: <c>NAME.tmpPID</c> and the trainer's <c>optimizer.bin.tmp</c>.</summary>
    [GeneratedRegex(@"^(?:.+\.tmp[0-9]+|optimizer\.bin\.tmp)$", RegexOptions.CultureInvariant)]
    private static partial Regex LegacyTempName();

    /// <summary>Writes text (UTF-8, no byte-order mark) atomically.</summary>
    public static void WriteAllText(string path, string text) => Write(path, s =>
    {
        using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), leaveOpen: true);
        w.Write(text);
    });

    /// <summary>Writes bytes atomically.</summary>
    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, s => s.Write(bytes));

    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/> atomically (the target is replaced as a whole).</summary>
    public static void Copy(string source, string destination)
    {
        using var src = File.OpenRead(source);
        Write(destination, src.CopyTo);
    }

    /// <summary>
    /// Writes the bytes produced by <paramref name="write"/> atomically to <paramref name="path"/>: temp file in the same
    /// folder, fsync, rename over the target, fsync of the folder. The target is untouched and the temp file removed if
    /// <paramref name="write"/> (or anything else before the rename) throws. The folder is created if missing.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = TempPathFor(full);
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
        SyncDirectory(dir);
    }

    /// <summary>A fresh temp name next to <paramref name="path"/>: <c>NAME.tmp-PID-GUID</c>.</summary>
    public static string TempPathFor(string path) =>
        path + TempMarker + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N");

    /// <summary>Whether <paramref name="fileName"/> (a name, not a path) is a temp file of <see cref="Write"/>.</summary>
    public static bool IsTempName(string fileName) => TempName().IsMatch(fileName);

    /// <summary>
    /// Deletes the temp files that interrupted writes left in <paramref name="dir"/> (not in subfolders): files named by
    /// <see cref="Write"/> whose writing process has ended or is this process, plus the temp names earlier versions
    /// used. Call it before this process writes into the folder (e.g. when a run resumes): a write of this process that
    /// is in flight in the same folder would lose its temp file. Returns the deleted file names.
    /// </summary>
    public static IReadOnlyList<string> DeleteLeftovers(string dir)
    {
        var deleted = new List<string>();
        if (!Directory.Exists(dir)) return deleted;
        foreach (string file in Directory.EnumerateFiles(dir))
        {
            string name = Path.GetFileName(file);
            var m = TempName().Match(name);
            bool ours = m.Success
                ? !WriterIsAlive(m.Groups["pid"].Value)
                : LegacyTempName().IsMatch(name);
            if (!ours) continue;
            File.Delete(file);
            deleted.Add(name);
        }
        if (deleted.Count > 0) SyncDirectory(dir);
        return deleted;
    }

    /// <summary>True when the process that named a temp file is still running and is not this process.</summary>
    static bool WriterIsAlive(string pidText)
    {
        if (!int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) return false;
        if (pid == Environment.ProcessId) return false;
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>
    /// Renames <paramref name="source"/> over <paramref name="destination"/> (same folder; atomic on POSIX file systems).
    /// The caller fsyncs the folder (<see cref="SyncDirectory"/>) once after a batch of renames.
    /// </summary>
    public static void Rename(string source, string destination) => File.Move(source, destination, overwrite: true);

    static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* best effort; DeleteLeftovers removes it later */ }
    }

    /// <summary>
    /// Makes renames, creations and deletions in <paramref name="dir"/> durable: opens the folder and fsyncs it (Linux and
    /// macOS). Elsewhere, or where the C library is not reachable, it does nothing. An I/O error is an
    /// <see cref="IOException"/>; a file system that cannot fsync folders is accepted silently.
    /// </summary>
    public static void SyncDirectory(string dir)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        int fd;
        try { fd = Native.Open(dir, 0 /* O_RDONLY */); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return; }
        if (fd < 0) return;                                            // e.g. no read permission on the folder: nothing to sync through
        try
        {
            if (Native.FSync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                const int EIO = 5;
                if (errno == EIO) throw new IOException($"{dir}: fsync of the folder failed (I/O error); the last rename may not be durable");
                // EINVAL/EROFS/ENOTSUP: the file system does not sync folders; nothing more can be done.
            }
        }
        finally
        {
            _ = Native.Close(fd);
        }
    }

    static partial class Native
    {
        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        internal static partial int FSync(int fd);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        internal static partial int Close(int fd);
    }
}
