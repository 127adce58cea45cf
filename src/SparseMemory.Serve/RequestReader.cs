using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using SparseMemory.Data.Chat;
using SparseMemory.Model;
using SparseMemory.Runs.Serve;

namespace SparseMemory.Serve;

/// <summary>A request the service refuses, with its status (400, 401, 404, 413, 415, 429 …) and message.</summary>
public sealed class BadRequestException(int status, string type, string message, string? param = null, string? code = null) : Exception(message)
{
    /// <summary>The request field at fault, when there is one (OpenAI's <c>param</c>).</summary>
    public string? Param { get; } = param;
    /// <summary>A machine-readable reason such as <c>model_not_found</c> (OpenAI's <c>code</c>), or null.</summary>
    public string? Code { get; } = code;
    /// <summary>HTTP status.</summary>
    public int Status { get; } = status;
    /// <summary>Error type (see <see cref="ErrorDetail"/>).</summary>
    public string Type { get; } = type;
}

/// <summary>Reads a bounded JSON object body and its fields, each problem a <see cref="BadRequestException"/> naming the field.</summary>
public static class RequestReader
{
    static BadRequestException Bad(string message, string? param = null) => new(400, "invalid_request_error", message, param);

    /// <summary>
    /// The body as a JSON object: 415 when the Content-Type names a charset other than UTF-8, 413 when over
    /// <paramref name="maxBytes"/>, 400 when not valid UTF-8, not a JSON object, or when a name or string in it is not
    /// valid Unicode (a lone surrogate escape such as <c>\ud800</c>). Every string in the result can be read.
    /// </summary>
    public static async Task<JsonElement> ReadObjectAsync(HttpRequest request, int maxBytes)
    {
        CheckCharset(request.ContentType);
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
        var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
        if (FirstInvalidUtf8(bytes) is int bad)
            throw Bad($"request body is not valid UTF-8 (byte 0x{bytes[bad]:X2} at offset {bad}); send JSON encoded as UTF-8");
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(buffer.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad($"request body must be a JSON object, got {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}");
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw Bad($"malformed JSON: {e.Message}");
        }
        CheckText(root, null);
        return root;
    }

    /// <summary>415 unless the Content-Type's charset, if it names one, is UTF-8 (the only encoding the service reads).</summary>
    static void CheckCharset(string? contentType)
    {
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var media)) return;
        string? charset = media.Charset.HasValue ? media.Charset.Value!.Trim('"') : null;
        if (charset is null || charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) || charset.Equals("utf8", StringComparison.OrdinalIgnoreCase)) return;
        throw new BadRequestException(415, "invalid_request_error",
            $"unsupported charset '{charset}' in Content-Type '{contentType}'; send UTF-8 JSON with 'Content-Type: application/json' (or '; charset=utf-8')");
    }

    /// <summary>The offset of the first byte that is not part of valid UTF-8, or null when all of it is valid.</summary>
    static int? FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes)) return null;
        int offset = 0;
        while (offset < bytes.Length)
        {
            var status = Rune.DecodeFromUtf8(bytes[offset..], out _, out int consumed);
            if (status != OperationStatus.Done) return offset;
            offset += consumed;
        }
        return offset;
    }

    /// <summary>Every property name and string below <paramref name="e"/> is valid Unicode; otherwise a 400 naming the field.</summary>
    static void CheckText(JsonElement e, string? field)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    string name;
                    try { name = p.Name; }
                    catch (InvalidOperationException)
                    {
                        throw Bad("a field name holds an invalid \\u escape (a lone surrogate such as \\ud800); send valid Unicode");
                    }
                    CheckText(p.Value, field ?? name);
                }
                break;
            case JsonValueKind.Array:
                foreach (var x in e.EnumerateArray()) CheckText(x, field);
                break;
            case JsonValueKind.String:
                try { _ = e.GetString(); }
                catch (InvalidOperationException)
                {
                    throw Bad($"field '{field}' holds an invalid \\u escape (a lone surrogate such as \\ud800 without its pair); send valid Unicode", field);
                }
                break;
        }
    }

    /// <summary>A string field: null when absent or null (unless <paramref name="required"/>); empty, blank or over-long is an error.</summary>
    public static string? String(JsonElement o, string name, bool required, int maxChars)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return required ? throw Bad($"field '{name}' is required", name) : null;
        if (v.ValueKind != JsonValueKind.String) throw Bad($"field '{name}' must be a string, got {v.ValueKind.ToString().ToLowerInvariant()}", name);
        string s = v.GetString()!;
        if (string.IsNullOrWhiteSpace(s)) throw Bad($"field '{name}' must not be empty", name);
        if (Characters(s) is var n && n > maxChars) throw Bad($"field '{name}' is {n} characters; the limit is {maxChars} (Unicode characters, not bytes)", name);
        if (s.Contains('\0')) throw Bad($"field '{name}' contains a NUL character", name);
        return s;
    }

    /// <summary>
    /// Characters as the limits count them: Unicode scalar values, so an emoji or any character outside the Basic
    /// Multilingual Plane counts once (not as the two UTF-16 units .NET stores, nor as its 4 UTF-8 bytes). Strings here
    /// hold no lone surrogate (<see cref="ReadObjectAsync"/> refuses them).
    /// </summary>
    public static int Characters(string s)
    {
        int n = 0;
        foreach (var _ in s.EnumerateRunes()) n++;
        return n;
    }

    /// <summary>The OpenAI <c>prompt</c>: a string, or an array holding exactly one string.</summary>
    public static string Prompt(JsonElement o, int maxChars)
    {
        if (o.TryGetProperty("prompt", out var v) && v.ValueKind == JsonValueKind.Array)
        {
            if (v.GetArrayLength() != 1 || v[0].ValueKind != JsonValueKind.String)
                throw Bad("field 'prompt' must be a string or an array of exactly one string (batches are not supported)", "prompt");
            var single = JsonDocument.Parse($"{{\"prompt\":{v[0].GetRawText()}}}").RootElement;
            return String(single, "prompt", true, maxChars)!;
        }
        return String(o, "prompt", true, maxChars)!;
    }

    /// <summary>An integer field in [<paramref name="min"/>, <paramref name="max"/>], or <paramref name="fallback"/> when absent.</summary>
    public static int Int(JsonElement o, string name, int min, int max, int fallback)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i)) throw Bad($"field '{name}' must be an integer", name);
        if (i < min || i > max) throw Bad($"field '{name}' must be between {min} and {max}, got {i}", name);
        return i;
    }

    /// <summary>A number field in [<paramref name="min"/>, <paramref name="max"/>], or <paramref name="fallback"/> when absent.</summary>
    public static double Number(JsonElement o, string name, double min, double max, double fallback)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d)) throw Bad($"field '{name}' must be a number", name);
        if (d < min || d > max) throw Bad($"field '{name}' must be between {min} and {max}, got {d}", name);
        return d;
    }

    /// <summary>
    /// The sampling <c>temperature</c>: 0 (greedy, also when absent) or between <see cref="TextGenerator.MinTemperature"/>
    /// and <paramref name="max"/>. A smaller positive value would overflow the scaled logits to NaN inside the sampler.
    /// </summary>
    public static double Temperature(JsonElement o, double max)
    {
        const string name = "temperature";
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return 0;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
            throw Bad($"field '{name}' must be a number (0 = greedy, or {TextGenerator.MinTemperature:G} to {max:G})", name);
        if (d == 0) return 0;
        if (d < TextGenerator.MinTemperature || d > max)
            throw Bad($"field '{name}' must be 0 (greedy) or between {TextGenerator.MinTemperature:G} and {max:G}, got {d:G}", name);
        return d;
    }

    /// <summary>The nucleus mass <c>top_p</c> in (0, 1], 1 when absent.</summary>
    public static double TopP(JsonElement o)
    {
        const string name = "top_p";
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return 1;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !(d > 0 && d <= 1))
            throw Bad($"field '{name}' must be a number in (0, 1] (1 = no nucleus cut)", name);
        return d;
    }

    /// <summary>Stop sequences: absent, a string, or an array of at most <paramref name="max"/> non-empty strings.</summary>
    public static IReadOnlyList<string> Stops(JsonElement o, int max, int maxChars)
    {
        const string name = "stop";
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return [];
        var items = v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().ToList() : [v];
        if (items.Count > max) throw Bad($"field '{name}' has {items.Count} sequences; the limit is {max}", name);
        var stops = new List<string>();
        foreach (var x in items)
        {
            if (x.ValueKind != JsonValueKind.String) throw Bad($"field '{name}' must be a string or an array of strings", name);
            string t = x.GetString()!;
            if (t.Length == 0) throw Bad($"field '{name}' holds an empty sequence", name);
            if (Characters(t) is var n && n > maxChars) throw Bad($"field '{name}' holds a sequence of {n} characters; the limit is {maxChars}", name);
            stops.Add(t);
        }
        return stops;
    }

    /// <summary>Fields of <c>POST /v1/completions</c> that the service implements.</summary>
    public static readonly string[] CompletionFields = ["model", "prompt", "max_tokens", "temperature", "top_p", "n", "stop", "seed", "stream", "stream_options", "echo", "logprobs"];

    /// <summary>Most alternatives <c>logprobs</c> may ask for per position (as OpenAI).</summary>
    public const int MaxLogprobs = 5;

    /// <summary>
    /// <c>logprobs</c> of a completion: null when absent or null, else an integer in [0, <see cref="MaxLogprobs"/>], the
    /// alternatives wanted per position. Not with <c>stream: true</c> (the streamed pieces of text are not token-aligned).
    /// </summary>
    public static int? Logprobs(JsonElement o, bool stream)
    {
        const string name = "logprobs";
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        int k = Int(o, name, 0, MaxLogprobs, 0);
        if (stream) throw Bad($"field '{name}' is not supported with \"stream\": true on this server; ask without streaming", name);
        return k;
    }

    /// <summary>
    /// OpenAI completion fields the service does not implement, each with the one value that asks for nothing (null
    /// always does too): sending that value is accepted, anything else is refused rather than silently ignored.
    /// <c>user</c> only labels the caller and never changes the output, so any string is accepted.
    /// </summary>
    static readonly Dictionary<string, Func<JsonElement, JsonElement, bool>> NeutralCompletionFields = new()
    {
        ["suffix"] = (_, _) => false,
        ["best_of"] = (v, o) => v.TryGetInt32Safe() is int b && b == (o.TryGetProperty("n", out var n) && n.TryGetInt32Safe() is int k ? k : 1),
        ["frequency_penalty"] = (v, _) => v.ValueKind == JsonValueKind.Number && v.GetDouble() == 0,
        ["presence_penalty"] = (v, _) => v.ValueKind == JsonValueKind.Number && v.GetDouble() == 0,
        ["logit_bias"] = (v, _) => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any(),
        ["user"] = (v, _) => v.ValueKind == JsonValueKind.String,
    };

    /// <summary>400 (with <c>param</c>) for a field of <c>/v1/completions</c> that is unknown, or known but not implemented.</summary>
    public static void CheckCompletionFields(JsonElement o) => CheckFields(o, "/v1/completions", CompletionFields, NeutralCompletionFields);

    /// <summary>Fields of <c>POST /v1/chat/completions</c> that the service implements.</summary>
    public static readonly string[] ChatFields = ["model", "messages", "max_completion_tokens", "max_tokens", "temperature", "top_p", "n", "stop", "seed", "stream", "stream_options"];

    /// <summary>OpenAI chat fields the service does not implement, each with the value that asks for nothing (as <see cref="NeutralCompletionFields"/>).</summary>
    static readonly Dictionary<string, Func<JsonElement, JsonElement, bool>> NeutralChatFields = new()
    {
        ["frequency_penalty"] = (v, _) => v.ValueKind == JsonValueKind.Number && v.GetDouble() == 0,
        ["presence_penalty"] = (v, _) => v.ValueKind == JsonValueKind.Number && v.GetDouble() == 0,
        ["logit_bias"] = (v, _) => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any(),
        ["logprobs"] = (v, _) => v.ValueKind == JsonValueKind.False,
        ["top_logprobs"] = (_, _) => false,
        ["tools"] = (v, _) => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0,
        ["tool_choice"] = (v, _) => v.ValueKind == JsonValueKind.String && v.GetString() == "none",
        ["response_format"] = (v, _) => v.ValueKind == JsonValueKind.Object && v.EnumerateObject().Count() == 1
                                         && v.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "text",
        ["user"] = (v, _) => v.ValueKind == JsonValueKind.String,
    };

    /// <summary>400 (with <c>param</c>) for a field of <c>/v1/chat/completions</c> that is unknown, or known but not implemented.</summary>
    public static void CheckChatFields(JsonElement o) => CheckFields(o, "/v1/chat/completions", ChatFields, NeutralChatFields);

    static void CheckFields(JsonElement o, string endpoint, string[] fields, Dictionary<string, Func<JsonElement, JsonElement, bool>> neutralFields)
    {
        foreach (var p in o.EnumerateObject())
        {
            if (fields.Contains(p.Name)) continue;
            if (neutralFields.TryGetValue(p.Name, out var neutral))
            {
                if (p.Value.ValueKind == JsonValueKind.Null || neutral(p.Value, o)) continue;
                throw Bad($"field '{p.Name}' is not supported by this server (only its default, or null, is accepted); remove it", p.Name);
            }
            throw Bad($"unknown field '{Printable(p.Name)}'; {endpoint} accepts {string.Join(", ", fields)}", p.Name);
        }
    }

    /// <summary>Most messages one chat request may hold.</summary>
    public const int MaxMessages = 256;

    /// <summary>The roles a chat message may have; <c>developer</c> (OpenAI's newer name) is read as <c>system</c>.</summary>
    public static readonly string[] ChatRoles = ["system", "developer", "user", "assistant"];

    /// <summary>
    /// The <c>messages</c> of a chat request: 1 to <see cref="MaxMessages"/> objects with exactly <c>role</c> (one of
    /// <see cref="ChatRoles"/>) and <c>content</c> (a string, or an array of <c>{"type": "text", "text"}</c> parts that
    /// are joined), each content at most <paramref name="maxChars"/> characters and without NUL. Every problem is a 400
    /// whose <c>param</c> names the message and field.
    /// </summary>
    public static IReadOnlyList<ChatMessage> Messages(JsonElement o, int maxChars)
    {
        const string name = "messages";
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) throw Bad("field 'messages' is required: an array of {\"role\", \"content\"}", name);
        if (v.ValueKind != JsonValueKind.Array) throw Bad($"field 'messages' must be an array, got {v.ValueKind.ToString().ToLowerInvariant()}", name);
        int count = v.GetArrayLength();
        if (count == 0) throw Bad("field 'messages' is empty; give at least one message", name);
        if (count > MaxMessages) throw Bad($"field 'messages' has {count} messages; the limit is {MaxMessages}", name);
        var messages = new List<ChatMessage>(count);
        int i = 0;
        foreach (var m in v.EnumerateArray())
        {
            string at = $"messages[{i}]";
            if (m.ValueKind != JsonValueKind.Object) throw Bad($"{at} must be an object with role and content", at);
            foreach (var p in m.EnumerateObject())
                if (p.Name is not ("role" or "content"))
                    throw Bad($"{at}: field '{Printable(p.Name)}' is not supported (a message holds role and content; tool calls and names are not read)", $"{at}.{p.Name}");
            if (!m.TryGetProperty("role", out var r) || r.ValueKind != JsonValueKind.String)
                throw Bad($"{at}.role is required: one of {string.Join(", ", ChatRoles)}", $"{at}.role");
            string role = r.GetString()!;
            if (!ChatRoles.Contains(role))
                throw Bad($"{at}.role is '{Printable(role)}'; this server reads {string.Join(", ", ChatRoles)} (no tool messages)", $"{at}.role");
            string content = Content(m, at);
            if (Characters(content) is var n && n > maxChars) throw Bad($"{at}.content is {n} characters; the limit is {maxChars} (Unicode characters, not bytes)", $"{at}.content");
            if (content.Contains('\0')) throw Bad($"{at}.content contains a NUL character", $"{at}.content");
            messages.Add(new ChatMessage(role == "developer" ? "system" : role, content));
            i++;
        }
        return messages;
    }

    static string Content(JsonElement m, string at)
    {
        string param = $"{at}.content";
        if (!m.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null) throw Bad($"{param} is required (a string)", param);
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) throw Bad($"{param} must be a string or an array of text parts, got {c.ValueKind.ToString().ToLowerInvariant()}", param);
        var b = new StringBuilder();
        foreach (var part in c.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
                throw Bad($"{param}: each part must be an object {{\"type\": \"text\", \"text\": …}}", param);
            if (t.GetString() != "text") throw Bad($"{param}: parts of type '{Printable(t.GetString()!)}' are not supported; only text", param);
            if (!part.TryGetProperty("text", out var x) || x.ValueKind != JsonValueKind.String || part.EnumerateObject().Count() != 2)
                throw Bad($"{param}: a text part holds exactly type and text (a string)", param);
            b.Append(x.GetString());
        }
        return b.ToString();
    }

    /// <summary>
    /// The token limit of a chat request: <c>max_completion_tokens</c> or <c>max_tokens</c> (not both, unless equal), in
    /// [1, <paramref name="max"/>]; null when neither is given.
    /// </summary>
    public static int? ChatMaxTokens(JsonElement o, int max)
    {
        bool Has(string f) => o.TryGetProperty(f, out var x) && x.ValueKind != JsonValueKind.Null;
        int? a = Has("max_completion_tokens") ? Int(o, "max_completion_tokens", 1, max, 0) : null;
        int? b = Has("max_tokens") ? Int(o, "max_tokens", 1, max, 0) : null;
        if (a is not null && b is not null && a != b)
            throw Bad("give max_completion_tokens or max_tokens (its older name), not two different values", "max_tokens");
        return a ?? b;
    }

    /// <summary>
    /// <c>stream</c> and <c>stream_options</c> of a completion: whether to answer with server-sent events, and whether
    /// the last event carries <c>usage</c>. <c>stream_options</c> holds only <c>include_usage</c> and needs <c>stream: true</c>.
    /// </summary>
    public static (bool Stream, bool IncludeUsage) StreamOptions(JsonElement o)
    {
        bool stream = Bool(o, "stream", false);
        if (!o.TryGetProperty("stream_options", out var so) || so.ValueKind == JsonValueKind.Null) return (stream, false);
        if (so.ValueKind != JsonValueKind.Object) throw Bad("'stream_options' must be an object such as {\"include_usage\": true}", "stream_options");
        if (!stream) throw Bad("'stream_options' is only allowed with \"stream\": true", "stream_options");
        foreach (var p in so.EnumerateObject())
            if (p.Name != "include_usage") throw Bad($"unknown field 'stream_options.{Printable(p.Name)}'; only include_usage is accepted", "stream_options");
        return (true, Bool(so, "include_usage", false));
    }

    /// <summary>A boolean query parameter: absent = <paramref name="fallback"/>; otherwise exactly true or false (any case).</summary>
    public static bool QueryBool(HttpRequest request, string name, bool fallback)
    {
        if (!request.Query.TryGetValue(name, out var values)) return fallback;
        string? v = values.Count == 1 ? values[0] : null;
        if (string.Equals(v, "true", StringComparison.OrdinalIgnoreCase)) return true;
        if (string.Equals(v, "false", StringComparison.OrdinalIgnoreCase)) return false;
        throw Bad($"query parameter '{name}' must be true or false, got {(values.Count == 1 ? $"'{Printable(v ?? "")}'" : $"{values.Count} values")}", name);
    }

    /// <summary>A route's learn id: a positive integer.</summary>
    public static long LearnId(string? id)
    {
        if (id is not null && long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out long learnId) && learnId > 0) return learnId;
        throw Bad($"'{Printable(id ?? "")}' is not a learn id (a positive integer from POST /learn)");
    }

    /// <summary>Text safe to quote in a one-line message: control characters as \uXXXX, at most 64 characters.</summary>
    public static string Printable(string s)
    {
        var b = new StringBuilder();
        foreach (char c in s.Length > 64 ? s[..64] : s)
            b.Append(char.IsControl(c) || char.IsSurrogate(c) ? $"\\u{(int)c:x4}" : c);
        return s.Length > 64 ? b.Append('…').ToString() : b.ToString();
    }

    /// <summary>A boolean field, or <paramref name="fallback"/> when absent.</summary>
    public static bool Bool(JsonElement o, string name, bool fallback)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Bad($"field '{name}' must be true or false", name),
        };
    }
}

static class JsonElementExtensions
{
    /// <summary>The value as an int, or null when it is not an integer number.</summary>
    public static int? TryGetInt32Safe(this JsonElement v) => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : null;
}
