using System.IO.Compression;

namespace SparseMemory.Tests.Benchmarks;

/// <summary>A temporary folder for corrupted copies of benchmark files, deleted on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("smf-bench-").FullName;

    /// <summary>Writes <paramref name="lines"/> to <paramref name="name"/> (gzip when the name ends in .gz).</summary>
    public string Write(string name, IEnumerable<string> lines)
    {
        var path = System.IO.Path.Combine(Path, name);
        using var file = File.Create(path);
        using Stream stream = name.EndsWith(".gz", StringComparison.Ordinal)
            ? new GZipStream(file, CompressionLevel.Fastest)
            : file;
        using var writer = new StreamWriter(stream);
        foreach (var line in lines) writer.Write(line + "\n");
        return path;
    }

    /// <summary>The first <paramref name="count"/> lines of a (possibly gzip) file.</summary>
    public static List<string> Head(string path, int count)
    {
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.Ordinal)
            ? new GZipStream(file, CompressionMode.Decompress)
            : file;
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (lines.Count < count && reader.ReadLine() is { } line) lines.Add(line);
        return lines;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
