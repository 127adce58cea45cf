using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace SparseMemory.Config;

/// <summary>
/// Part of a <typeparamref name="T"/> config nested in another config: a JSON object with the same keys as
/// <typeparamref name="T"/> (e.g. an experiment's <c>"finetune": {"data": {"limit": 100}}</c>), holding only the keys it
/// sets, so that it layers over other defaults (a base model's recipe) instead of resetting them. It is checked against
/// <typeparamref name="T"/> when read: an unknown key or a value of the wrong type is an error naming it. Layered by
/// <see cref="ConfigLoader.Load{T}(string?, string?, IEnumerable{ConfigLayer}, Func{T, IReadOnlyList{string}}?, string)"/>.
/// </summary>
[JsonConverter(typeof(ConfigOverlayConverter))]
public sealed class ConfigOverlay<T> : IEquatable<ConfigOverlay<T>> where T : new()
{
    readonly JsonObject tree;

    /// <summary>An empty overlay (sets nothing).</summary>
    public ConfigOverlay() : this(new JsonObject()) { }

    /// <summary>An overlay of the keys in <paramref name="tree"/>; throws <see cref="JsonException"/> naming an unknown key.</summary>
    public ConfigOverlay(JsonObject tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        this.tree = (JsonObject)tree.DeepClone();
        if (Problem(this.tree) is { } p) throw new JsonException(p);
    }

    /// <summary>Whether the overlay sets nothing.</summary>
    public bool IsEmpty => tree.Count == 0;

    /// <summary>A copy of the keys it sets.</summary>
    public JsonObject Tree => (JsonObject)tree.DeepClone();

    /// <summary>The overlay as a config layer named <paramref name="source"/>.</summary>
    public ConfigLayer Layer(string source) => ConfigLayer.Of(Tree, source);

    /// <summary>A copy with <paramref name="placeholder"/> replaced by <paramref name="value"/> in every string value.</summary>
    public ConfigOverlay<T> Replace(string placeholder, string value) => new((JsonObject)ReplaceIn(Tree, placeholder, value)!);

    /// <summary>The first problem of <paramref name="overlay"/> as a <typeparamref name="T"/>, or null when it reads.</summary>
    static string? Problem(JsonObject overlay)
    {
        try
        {
            // On the defaults, so that a partial section (e.g. only data.limit) reads; unknown members are disallowed.
            var full = JsonSerializer.SerializeToNode(new T(), ConfigLoader.Json)!.AsObject();
            MergeInto(full, overlay);
            full.Deserialize<T>(ConfigLoader.Json);
            return null;
        }
        catch (JsonException e)
        {
            string path = (e.Path ?? "?").TrimStart('$', '.');
            string what = typeof(T).Name.Replace("Config", "", StringComparison.Ordinal).ToLowerInvariant();
            return e.Message.Contains("could not be mapped", StringComparison.Ordinal)
                ? $"unknown key \"{path}\" in a {what} config (check the spelling; keys are snake_case, as in the {what} config)"
                : $"{path}: {e.Message.Split(" Path:", 2)[0]}";
        }
    }

    static void MergeInto(JsonObject target, JsonObject overlay)
    {
        foreach (var (key, value) in overlay)
        {
            if (target[key] is JsonObject child && value is JsonObject sub) MergeInto(child, sub);
            else target[key] = value?.DeepClone();
        }
    }

    static JsonNode? ReplaceIn(JsonNode? node, string placeholder, string value)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(kv => kv.Key).ToList()) o[key] = ReplaceIn(o[key]?.DeepClone(), placeholder, value);
                return o;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++) a[i] = ReplaceIn(a[i]?.DeepClone(), placeholder, value);
                return a;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                return JsonValue.Create(v.GetValue<string>().Replace(placeholder, value, StringComparison.Ordinal));
            default:
                return node;
        }
    }

    /// <inheritdoc/>
    public bool Equals(ConfigOverlay<T>? other) => other is not null && JsonNode.DeepEquals(tree, other.tree);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as ConfigOverlay<T>);

    /// <inheritdoc/>
    public override int GetHashCode() => tree.ToJsonString().GetHashCode(StringComparison.Ordinal);

    /// <inheritdoc/>
    public override string ToString() => tree.ToJsonString(ConfigLoader.JsonLine);
}

/// <summary>One layer of <see cref="ConfigLoader.Load{T}(string?, string?, IEnumerable{ConfigLayer}, Func{T, IReadOnlyList{string}}?, string)"/>:
/// a <c>key=value</c> override or a partial JSON object.</summary>
/// <param name="Set">The <c>key=value</c> override, or null.</param>
/// <param name="Overlay">The partial object, or null.</param>
/// <param name="Source">What it came from, for error messages.</param>
public sealed record ConfigLayer(string? Set, JsonObject? Overlay, string Source)
{
    /// <summary>A <c>--set</c> override.</summary>
    public static ConfigLayer Of(string set) => new(set, null, "--set");

    /// <summary>A partial object named <paramref name="source"/>.</summary>
    public static ConfigLayer Of(JsonObject overlay, string source) => new(null, overlay, source);
}

/// <summary>Reads and writes <see cref="ConfigOverlay{T}"/> as the JSON object it holds.</summary>
public sealed class ConfigOverlayConverter : JsonConverterFactory
{
    /// <inheritdoc/>
    public override bool CanConvert(Type typeToConvert) => typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(ConfigOverlay<>);

    /// <inheritdoc/>
    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Converter<>).MakeGenericType(typeToConvert.GetGenericArguments()[0]))!;

    sealed class Converter<T> : JsonConverter<ConfigOverlay<T>> where T : new()
    {
        public override ConfigOverlay<T> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Null) return new ConfigOverlay<T>();
            if (JsonNode.Parse(ref reader) is not JsonObject o)
                throw new JsonException($"expected a JSON object of {typeof(T).Name} keys, e.g. {{\"data\": {{\"limit\": 10}}}}");
            return new ConfigOverlay<T>(o);
        }

        public override void Write(Utf8JsonWriter writer, ConfigOverlay<T> value, JsonSerializerOptions options) => value.Tree.WriteTo(writer, options);
    }
}
