using SparseMemory.Data;
using SparseMemory.Data.Facts;
using System.Text.Json;

namespace SparseMemory.DataBuild.Facts;

/// <summary>Reads the objects of a JSON array file together with the line each starts on, for error messages.</summary>
public static class JsonArrayLines
{
    /// <summary>
    /// The elements of the top-level array, or of the array under <paramref name="property"/> of the top-level
    /// object, each with its 1-based start line.
    /// </summary>
    /// <exception cref="InvalidDataException">Not JSON, or not the expected shape; the message names file and line.</exception>
    public static IReadOnlyList<(int Line, JsonElement Element)> Read(string path, string? property = null)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var items = new List<(int, JsonElement)>();
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        int line = 1;
        long counted = 0;
        int LineAt(long index)
        {
            for (; counted < index && counted < bytes.Length; counted++) if (bytes[counted] == (byte)'\n') line++;
            return line;
        }
        try
        {
            if (!reader.Read()) throw new InvalidDataException($"{path}:1: empty file (expected a JSON array)");
            if (property is not null)
            {
                if (reader.TokenType != JsonTokenType.StartObject)
                    throw new InvalidDataException($"{path}:{LineAt(reader.TokenStartIndex)}: expected an object with an array \"{property}\"");
                bool found = false;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals(property)) { reader.Read(); found = true; break; }
                    reader.Read();
                    reader.Skip();
                }
                if (!found) throw new InvalidDataException($"{path}:{LineAt(reader.TokenStartIndex)}: no array \"{property}\"");
            }
            if (reader.TokenType != JsonTokenType.StartArray)
                throw new InvalidDataException($"{path}:{LineAt(reader.TokenStartIndex)}: expected a JSON array, found {reader.TokenType}");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                int at = LineAt(reader.TokenStartIndex);
                using var doc = JsonDocument.ParseValue(ref reader);
                items.Add((at, doc.RootElement.Clone()));
            }
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}:{(e.LineNumber ?? 0) + 1}: not valid JSON ({e.Message})", e);
        }
        return items;
    }
}
