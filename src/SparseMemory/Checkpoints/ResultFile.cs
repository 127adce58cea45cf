using System.Text.Json;
using System.Text.Json.Nodes;
using SparseMemory.Config;

namespace SparseMemory.Checkpoints;

/// <summary>
/// The one writer of result files (eval results, benchmark results, core-set rows, frozen verb configs): JSON through
/// the shared serializer options (<see cref="ConfigLoader.Json"/>, one object per line with <see cref="ConfigLoader.JsonLine"/>),
/// written atomically (<see cref="AtomicFile"/>) into a folder created when missing, so a reader never sees half a file.
/// </summary>
public static class ResultFile
{
    /// <summary>A JSON node as indented text.</summary>
    public static string Text(JsonNode node) => node.ToJsonString(ConfigLoader.Json);

    /// <summary>A JSON node on one line (a JSON lines row).</summary>
    public static string Line(JsonNode node) => node.ToJsonString(ConfigLoader.JsonLine);

    /// <summary>A value (a record, a row) serialised as a JSON object.</summary>
    public static JsonNode Node<T>(T value) => JsonSerializer.SerializeToNode(value, ConfigLoader.Json)!;

    /// <summary>Writes one JSON document (indented, newline-terminated).</summary>
    public static void Write(string path, JsonNode node) => WriteText(path, Text(node) + "\n");

    /// <summary>Writes a JSON lines file: one object per line.</summary>
    public static void WriteLines(string path, IEnumerable<JsonNode> rows) => WriteText(path, string.Concat(rows.Select(r => Line(r) + "\n")));

    /// <summary>
    /// Freezes the resolved config of a verb beside its output (<see cref="ConfigLoader.FrozenName"/>) and returns the
    /// path written.
    /// </summary>
    public static string FreezeConfig<T>(T config, string outputPath)
    {
        string path = ConfigLoader.FrozenName(outputPath);
        WriteText(path, ConfigLoader.ToJson(config) + "\n");
        return path;
    }

    static void WriteText(string path, string text)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(path, text);
    }
}
