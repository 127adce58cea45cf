namespace SparseMemory.Training;

/// <summary>
/// Resident memory of this process from <c>/proc/self/status</c> (Linux): the current RSS (<c>VmRSS</c>) and its
/// high-water mark (<c>VmHWM</c>). The high-water mark is process-wide; writing <c>5</c> to <c>/proc/self/clear_refs</c>
/// resets it to the current RSS (Linux ≥ 4.0), which makes it a per-phase peak. Values are in MiB; null where the files
/// cannot be read (other systems).
/// </summary>
public static class ProcessMemory
{
    /// <summary>Current resident set size, MiB.</summary>
    public static double? RssMiB() => ReadKb("VmRSS:") / 1024.0;

    /// <summary>Peak resident set size since the start or the last successful <see cref="ResetPeak"/>, MiB.</summary>
    public static double? PeakRssMiB() => ReadKb("VmHWM:") / 1024.0;

    /// <summary>Resets the high-water mark to the current RSS; false where that is not possible (then it stays process-wide).</summary>
    public static bool ResetPeak()
    {
        try
        {
            if (!File.Exists("/proc/self/clear_refs")) return false;
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    static long? ReadKb(string key)
    {
        try
        {
            if (!File.Exists("/proc/self/status")) return null;
            foreach (string line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(key, StringComparison.Ordinal))
                    return long.Parse(line[key.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return null; }
    }
}
