using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace SparseMemory.Serve;

/// <summary>A request the service refuses, with its status (400, 401, 404, 413, 415, 429 …) and message.</summary>
public sealed class BadRequestException(int status, string type, string message) : Exception(message)
{
    /// <summary>HTTP status.</summary>
    public int Status { get; } = status;
    /// <summary>Error type (see <see cref="ErrorDetail"/>).</summary>
    public string Type { get; } = type;
}

/// <summary>Reads a bounded JSON object body and its fields, each problem a <see cref="BadRequestException"/> naming the field.</summary>
public static class RequestReader
{
    static BadRequestException Bad(string message) => new(400, "invalid_request_error", message);

    /// <summary>The body as a JSON object: 413 when over <paramref name="maxBytes"/>, 400 when not a JSON object.</summary>
    public static async Task<JsonElement> ReadObjectAsync(HttpRequest request, int maxBytes)
    {
        if (request.ContentLength > maxBytes)
            throw new BadRequestException(413, "invalid_request_error", $"request body is {request.ContentLength} bytes; the limit is {maxBytes}");
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        try
        {
            int n;
            while ((n = await request.Body.ReadAsync(chunk)) > 0)
            {
                buffer.Write(chunk, 0, n);
                if (buffer.Length > maxBytes)
                    throw new BadRequestException(413, "invalid_request_error", $"request body is over the limit of {maxBytes} bytes");
            }
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e)
        {
            throw new BadRequestException(e.StatusCode, "invalid_request_error", $"request body could not be read: {e.Message}");
        }
        if (buffer.Length == 0) throw Bad("request body is empty; send a JSON object");
        try
        {
            using var doc = JsonDocument.Parse(buffer.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad($"request body must be a JSON object, got {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}");
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw Bad($"malformed JSON: {e.Message}");
        }
    }

    /// <summary>A string field: null when absent or null (unless <paramref name="required"/>); empty, blank or over-long is an error.</summary>
    public static string? String(JsonElement o, string name, bool required, int maxChars)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return required ? throw Bad($"field '{name}' is required") : null;
        if (v.ValueKind != JsonValueKind.String) throw Bad($"field '{name}' must be a string, got {v.ValueKind.ToString().ToLowerInvariant()}");
        string s = v.GetString()!;
        if (string.IsNullOrWhiteSpace(s)) throw Bad($"field '{name}' must not be empty");
        if (s.Length > maxChars) throw Bad($"field '{name}' is {s.Length} characters; the limit is {maxChars}");
        if (s.Contains('\0')) throw Bad($"field '{name}' contains a NUL character");
        return s;
    }

    /// <summary>The OpenAI <c>prompt</c>: a string, or an array holding exactly one string.</summary>
    public static string Prompt(JsonElement o, int maxChars)
    {
        if (o.TryGetProperty("prompt", out var v) && v.ValueKind == JsonValueKind.Array)
        {
            if (v.GetArrayLength() != 1 || v[0].ValueKind != JsonValueKind.String)
                throw Bad("field 'prompt' must be a string or an array of exactly one string (batches are not supported)");
            var single = JsonDocument.Parse($"{{\"prompt\":{v[0].GetRawText()}}}").RootElement;
            return String(single, "prompt", true, maxChars)!;
        }
        return String(o, "prompt", true, maxChars)!;
    }

    /// <summary>An integer field in [<paramref name="min"/>, <paramref name="max"/>], or <paramref name="fallback"/> when absent.</summary>
    public static int Int(JsonElement o, string name, int min, int max, int fallback)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i)) throw Bad($"field '{name}' must be an integer");
        if (i < min || i > max) throw Bad($"field '{name}' must be between {min} and {max}, got {i}");
        return i;
    }

    /// <summary>A number field in [<paramref name="min"/>, <paramref name="max"/>], or <paramref name="fallback"/> when absent.</summary>
    public static double Number(JsonElement o, string name, double min, double max, double fallback)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d)) throw Bad($"field '{name}' must be a number");
        if (d < min || d > max) throw Bad($"field '{name}' must be between {min} and {max}, got {d}");
        return d;
    }

    /// <summary>A boolean field, or <paramref name="fallback"/> when absent.</summary>
    public static bool Bool(JsonElement o, string name, bool fallback)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Bad($"field '{name}' must be true or false"),
        };
    }
}
