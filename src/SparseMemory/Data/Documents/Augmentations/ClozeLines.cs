using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace SparseMemory.Config;

/// <summary>
/// One mechanism for every config type: defaults → named preset → JSON file → <c>--set a.b=value</c>.
/// Each layer is merged into a JSON tree first and the tree is deserialised once with unknown members
/// disallowed, so a typo anywhere is an error that names the key.
/// </summary>
public static class ConfigLoader
{
    /// <summary>
    /// The one set of serializer options of the project: config, checkpoint, summary and result files (snake_case, enums
    /// as strings, indented, text such as "·" or "→" written as itself rather than as \u escapes). <see cref="JsonLine"/>
    /// is the same without indentation, for one-object-per-line files.
    /// </summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary><see cref="Json"/> on one line (JSON lines files such as <c>metrics.jsonl</c> and eval results).</summary>
    public static readonly JsonSerializerOptions JsonLine = new(Json) { WriteIndented = false };

    /// <summary>Resource group of the pretraining presets (files <c>presets/*.json</c>).</summary>
    public const string ModelPresets = "presets";

    /// <summary>Resource group of the experiment presets (files <c>presets/experiments/*.json</c>).</summary>
    public const string ExperimentPresets = "experiments";

    /// <summary>Resource group of the retrofit presets (files <c>presets/retrofit/*.json</c>).</summary>
    public const string RetrofitPresets = "retrofit";

    /// <summary>Names of the presets embedded in the library (files <c>presets/*.json</c>).</summary>
    public static IReadOnlyList<string> PresetNames => PresetNamesOf(ModelPresets);

    /// <summary>Names of the embedded presets of a group (<see cref="ModelPresets"/>, <see cref="ExperimentPresets"/>).</summary>
    public static IReadOnlyList<string> PresetNamesOf(string group) =>
        typeof(ConfigLoader).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith($"SparseMemory.{group}.", StringComparison.Ordinal))
            .Select(n => n[$"SparseMemory.{group}.".Length..^".json".Length]).Order().ToArray();

    /// <summary>Reads an embedded preset's JSON text.</summary>
    public static string PresetJson(string name, string group = ModelPresets)
    {
        using Stream? s = typeof(ConfigLoader).Assembly.GetManifestResourceStream($"SparseMemory.{group}.{name}.json");
        if (s is null) throw new ConfigException($"unknown preset \"{name}\"; available: {string.Join(", ", PresetNamesOf(group))}");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    /// <summary>Builds a validated config from defaults, an optional preset, an optional JSON file and overrides.</summary>
    public static T Load<T>(string? preset = null, string? file = null, IEnumerable<string>? sets = null,
        Func<T, IReadOnlyList<string>>? validate = null, string presetGroup = ModelPresets) where T : new() =>
        Load(preset, file, (sets ?? []).Select(ConfigLayer.Of), validate, presetGroup);

    /// <summary>
    /// Builds a validated config from defaults, an optional preset, an optional JSON file and then <paramref name="layers"/>
    /// in order: <c>key=value</c> overrides and partial JSON objects of the same schema (<see cref="ConfigOverlay{T}"/>),
    /// each merged into the tree before it is deserialised once.
    /// </summary>
    public static T Load<T>(string? preset, string? file, IEnumerable<ConfigLayer> layers,
        Func<T, IReadOnlyList<string>>? validate = null, string presetGroup = ModelPresets) where T : new()
    {
        JsonNode tree = JsonSerializer.SerializeToNode(new T(), Json)!;
        var schema = SchemaOf(typeof(T));
        if (preset is not null) Merge(tree, CheckFinite(Parse(PresetJson(preset, presetGroup), $"preset {preset}"), $"preset {preset}", ""), $"preset {preset}");
        if (file is not null)
        {
            if (!File.Exists(file)) throw new ConfigException($"{file}: config file not found");
            Merge(tree, CheckFinite(Parse(File.ReadAllText(file), file), file, ""), file);
        }
        var sources = new List<string>();
        foreach (var layer in layers)
        {
            if (layer.Overlay is { } overlay) Merge(tree, CheckFinite(overlay.DeepClone(), layer.Source, ""), layer.Source);
            else ApplySet(tree, schema, layer.Set!);
            if (!sources.Contains(layer.Source)) sources.Add(layer.Source);
        }
        var named = new[] { preset is null ? null : $"preset {preset}", file }.OfType<string>().Concat(sources).ToList();
        T config = Deserialize<T>(tree, named.Count == 0 ? "defaults" : $"config ({string.Join(" + ", named)})");
        if (validate is not null)
        {
            var errors = validate(config);
            if (errors.Count > 0)
                throw new ConfigException("invalid config:\n  " + string.Join("\n  ", errors));
        }
        return config;
    }

    /// <summary>
    /// A JSON config file as a layer, for configs whose file goes between other layers (a finetune config's file comes after
    /// the base model's recipe and before the flags); a missing file or invalid JSON is an error naming it.
    /// </summary>
    public static ConfigLayer FileLayer(string path)
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: config file not found");
        if (CheckFinite(Parse(File.ReadAllText(path), path), path, "") is not JsonObject o)
            throw new ConfigException($"{path}: the top level must be a JSON object");
        return ConfigLayer.Of(o, path);
    }

    /// <summary>A <c>key=value</c> override whose value is <paramref name="value"/> as JSON (strings quoted, numbers round-trip).</summary>
    public static string Set(string key, object? value) => key + "=" + value switch
    {
        null => "null",
        double d when !double.IsFinite(d) => throw new ConfigException($"{key} = {d} is out of range (not a finite number)"),
        string s => JsonSerializer.Serialize(s, JsonLine),
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f when value is not System.Collections.IEnumerable => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => JsonSerializer.Serialize(value, value.GetType(), JsonLine),
    };

    /// <summary>
    /// Where the resolved config of a verb is frozen beside its output file: the output's name without its extension, plus
    /// <c>-config.json</c> (<c>eval.jsonl</c> → <c>eval-config.json</c>, <c>background.safetensors</c> →
    /// <c>background-config.json</c>), so two outputs in one folder keep their own configs.
    /// </summary>
    public static string FrozenName(string outputPath)
    {
        string full = Path.GetFullPath(outputPath);
        string dir = Path.GetDirectoryName(full) ?? ".";
        return Path.Combine(dir, Path.GetFileNameWithoutExtension(full) + "-config.json");
    }

    /// <summary>Reads a frozen config written by <see cref="Save{T}"/> (unknown keys are errors).</summary>
    public static T ReadFile<T>(string path)
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: file not found");
        return Deserialize<T>(Parse(File.ReadAllText(path), path), path);
    }

    /// <summary>
    /// Checks a parsed config tree read from <paramref name="source"/> against <typeparamref name="T"/>: an unknown key
    /// anywhere (or a value of the wrong type) is a <see cref="ConfigException"/> naming the source and the key.
    /// </summary>
    public static void CheckTree<T>(JsonNode tree, string source) => Deserialize<T>(tree, source);

    /// <summary>The top-level keys of <typeparamref name="T"/> as written in config files.</summary>
    public static IReadOnlyList<string> TopLevelKeys<T>() where T : new() =>
        JsonSerializer.SerializeToNode(new T(), Json)!.AsObject().Select(kv => kv.Key).ToArray();

    /// <summary>Serialises a config (indented, snake_case).</summary>
    public static string ToJson<T>(T config) => JsonSerializer.Serialize(config, Json);

    /// <summary>How config and result JSON is parsed: comments and trailing commas allowed, a key given twice an error
    /// (otherwise it surfaces later as an unexplained exception when the object is read).</summary>
    public static readonly JsonDocumentOptions DocumentOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, AllowDuplicateProperties = false,
    };

    static JsonNode Parse(string text, string source)
    {
        try
        {
            return JsonNode.Parse(text, documentOptions: DocumentOptions) ?? throw new ConfigException($"{source}: empty JSON");
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{source}: not valid JSON (line {e.LineNumber + 1}): {e.Message}");
        }
    }

    static T Deserialize<T>(JsonNode tree, string source)
    {
        try
        {
            return tree.Deserialize<T>(Json) ?? throw new ConfigException($"{source}: config is null");
        }
        catch (JsonException e)
        {
            string path = (e.Path ?? "?").TrimStart('$', '.');
            if (e.Message.Contains("could not be mapped", StringComparison.Ordinal))
                throw new ConfigException($"{source}: unknown key at {path} (check the spelling; keys are snake_case, e.g. train.batch_size)");
            throw new ConfigException($"{source}: {e.Message} (at {path})");
        }
    }

    /// <summary>Deep-merges <paramref name="overlay"/> into <paramref name="target"/>; objects merge, everything else replaces.</summary>
    static void Merge(JsonNode target, JsonNode overlay, string source)
    {
        if (target is not JsonObject t || overlay is not JsonObject o)
            throw new ConfigException($"{source}: the top level must be a JSON object");
        foreach (var (key, value) in o.ToArray())
        {
            if (t[key] is JsonObject child && value is JsonObject sub) Merge(child, sub, source);
            else t[key] = value?.DeepClone();
        }
    }

    static void ApplySet(JsonNode tree, JsonNode? schema, string set)
    {
        int eq = set.IndexOf('=');
        if (eq <= 0) throw new ConfigException($"--set \"{set}\": expected key=value, e.g. --set train.steps=200");
        string[] path = set[..eq].Trim().Split('.');
        string raw = set[(eq + 1)..];
        JsonNode node = tree;
        JsonNode? known = schema;                      // the same place in the schema: inside an overlay it holds keys the tree lacks
        for (int i = 0; i < path.Length - 1; i++)
        {
            var knownNext = (known as JsonObject)?[path[i]] as JsonObject;
            if (node is JsonObject obj && obj[path[i]] is JsonObject next) node = next;
            else if (node is JsonObject open && knownNext is not null && !open.ContainsKey(path[i])) { var created = new JsonObject(); open[path[i]] = created; node = created; }
            else throw new ConfigException($"--set {set[..eq]}: unknown key \"{string.Join('.', path[..(i + 1)])}\"{Suggest(node, known, path[i])}");
            known = knownNext;
        }
        var parent = (JsonObject)node;
        string leaf = path[^1];
        var knownParent = known as JsonObject;
        if (!parent.ContainsKey(leaf) && knownParent?.ContainsKey(leaf) != true)
            throw new ConfigException($"--set {set[..eq]}: unknown key \"{set[..eq]}\"{Suggest(parent, known, leaf)}");
        JsonNode? value;
        try { value = JsonNode.Parse(raw); }
        catch (JsonException) { value = JsonValue.Create(raw); }
        if (value is not null) CheckFinite(value, $"--set {set}", set[..eq].Trim());
        // A bare word for a string-typed key (e.g. --set name=foo) parses as a string above.
        var old = parent.ContainsKey(leaf) ? parent[leaf] : knownParent?[leaf];
        if (old is JsonValue ov && ov.GetValueKind() == JsonValueKind.String && value is JsonValue nv && nv.GetValueKind() != JsonValueKind.String)
            value = JsonValue.Create(raw);
        parent[leaf] = value;
    }

    /// <summary>
    /// The default tree of <paramref name="type"/> with every <see cref="ConfigOverlay{T}"/> member replaced by the default
    /// tree of its schema, so that <c>--set finetune.data.limit=3</c> is checked against the finetune config's keys.
    /// </summary>
    static JsonNode? SchemaOf(Type type)
    {
        if (type.GetConstructor(Type.EmptyTypes) is null) return null;
        JsonNode? tree;
        try { tree = JsonSerializer.SerializeToNode(Activator.CreateInstance(type), type, Json); }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or JsonException) { return null; }
        if (tree is not JsonObject obj) return tree;
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            string key = Json.PropertyNamingPolicy!.ConvertName(p.Name);
            if (!obj.ContainsKey(key)) continue;
            var t = p.PropertyType;
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(ConfigOverlay<>)) obj[key] = SchemaOf(t.GetGenericArguments()[0]);
            else if (t.IsClass && t != typeof(string) && !typeof(System.Collections.IEnumerable).IsAssignableFrom(t) && obj[key] is JsonObject
                     && t.Namespace == typeof(ConfigLoader).Namespace)
                obj[key] = SchemaOf(t);
        }
        return obj;
    }

    /// <summary>
    /// A number too large for a double (e.g. 1e400) would be read as infinity and fail far from its key (writing the
    /// frozen config); it is refused here, naming the key. Returns <paramref name="node"/>.
    /// </summary>
    static JsonNode CheckFinite(JsonNode node, string source, string path)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, v) in o) if (v is not null) CheckFinite(v, source, path.Length == 0 ? k : $"{path}.{k}");
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++) if (a[i] is { } v) CheckFinite(v, source, $"{path}[{i}]");
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                string raw = v.ToJsonString();
                if (!double.TryParse(raw, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d))
                    throw new ConfigException($"{source}: {path} = {raw} is out of range (not a finite number)");
                break;
        }
        return node;
    }

    static string Suggest(JsonNode? node, JsonNode? known, string key)
    {
        string[] keys = new[] { node, known }.OfType<JsonObject>().SelectMany(o => o.Select(kv => kv.Key)).Distinct().ToArray();
        if (keys.Length == 0) return "";
        string? best = keys.OrderBy(k => Levenshtein(k, key)).FirstOrDefault();
        return best is not null && Levenshtein(best, key) <= Math.Max(2, key.Length / 3)
            ? $" (did you mean \"{best}\"?)" : $" (known keys: {string.Join(", ", keys)})";
    }

    static int Levenshtein(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
