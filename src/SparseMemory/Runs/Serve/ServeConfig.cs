using System.Globalization;
using SparseMemory.Config;

namespace SparseMemory.Runs.Serve;

/// <summary>
/// The settings of <c>smf serve</c> as a config file holds them (docs/serve.md#configuration): merged as defaults →
/// <c>--config FILE.json</c> → the command's flags → <c>--set key=value</c>, by <see cref="ConfigLoader"/> (snake_case
/// keys; an unknown key is an error naming it), validated as a whole, and frozen as <see cref="FileName"/> in the state
/// folder at every start. The token itself is never part of it: only the file that holds it.
/// </summary>
public sealed record ServeConfig
{
    /// <summary>Name of the frozen copy in the state folder.</summary>
    public const string FileName = "serve-config.json";

    /// <summary>Checkpoint folder of the model served (required).</summary>
    public string? Model { get; init; }
    /// <summary>Where to listen, ';'-separated.</summary>
    public string Urls { get; init; } = "http://127.0.0.1:5077";
    /// <summary>The file whose contents (trimmed) are the bearer token (required).</summary>
    public string? TokenFile { get; init; }
    /// <summary>State folder; null = <c>MODEL/serve</c>.</summary>
    public string? State { get; init; }
    /// <summary>t: value rows updated per learn step.</summary>
    public int TopT { get; init; } = 512;
    /// <summary>SGD learning rate; null = the sparse method's registry default.</summary>
    public double? Lr { get; init; }
    /// <summary>Optimizer steps per learn.</summary>
    public int StepsPerLearn { get; init; } = 1;
    /// <summary>Paraphrases per learn batch.</summary>
    public int Paraphrases { get; init; } = 16;
    /// <summary>Also train on question-form paraphrases when a learn gives question + answer.</summary>
    public bool QuestionForm { get; init; }
    /// <summary>Service checkpoint every K learns/undos (0 = only at shutdown).</summary>
    public int CheckpointEvery { get; init; } = 20;
    /// <summary>Forgetting check every N learns (0 = off).</summary>
    public int CheckEvery { get; init; }
    /// <summary>Items per probe of the forgetting check.</summary>
    public int CheckLimit { get; init; } = 32;
    /// <summary>Drift guard (0 = off; needs check_every).</summary>
    public double MaxDrift { get; init; }
    /// <summary>Require the token for asks too.</summary>
    public bool ProtectAsk { get; init; }
    /// <summary>Learn rate limit per minute (0 = unlimited).</summary>
    public int LearnsPerMinute { get; init; } = 60;
    /// <summary>Allow listening on a non-loopback address.</summary>
    public bool AllowRemote { get; init; }
    /// <summary>Host header names answered besides localhost, 127.0.0.1, [::1] and the hosts of <see cref="Urls"/>.</summary>
    public string[] AllowedHosts { get; init; } = [];
    /// <summary>Torch threads (0 = library default).</summary>
    public int Threads { get; init; }
    /// <summary>Paraphrase sampling seed.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Longest document a learn takes (characters); longer is a 413.</summary>
    public int MaxDocumentChars { get; init; } = 16000;
    /// <summary>Most tokens per chunk of a document learn.</summary>
    public int DocumentChunkTokens { get; init; } = 128;

    /// <summary>Every problem at once (the keys as a config file writes them, with the flag that sets each).</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (string.IsNullOrWhiteSpace(Model)) e.Add("model is required: pass --model DIR or set \"model\" in --config");
        if (string.IsNullOrWhiteSpace(TokenFile)) e.Add("token_file is required: pass --token-file FILE or set \"token_file\" in --config");
        if (string.IsNullOrWhiteSpace(Urls)) e.Add("urls is empty; give an address such as http://127.0.0.1:5077");
        e.AddRange(ToOptions("placeholder").Validate().Where(p => !p.StartsWith("--model", StringComparison.Ordinal)));
        return e;
    }

    /// <summary>The service options, with the token read from <see cref="TokenFile"/> by the caller.</summary>
    public ServeOptions ToOptions(string token) => new()
    {
        ModelDir = Model ?? "", StateDir = State, Token = token, TopT = TopT, Lr = Lr, StepsPerLearn = StepsPerLearn, Paraphrases = Paraphrases,
        QuestionForm = QuestionForm, CheckpointEvery = CheckpointEvery, CheckEvery = CheckEvery, CheckLimit = CheckLimit, MaxDrift = MaxDrift,
        ProtectAsk = ProtectAsk, LearnsPerMinute = LearnsPerMinute, AllowedHosts = AllowedHosts, Threads = Threads, Seed = Seed,
        MaxDocumentChars = MaxDocumentChars, DocumentChunkTokens = DocumentChunkTokens,
    };

    /// <summary>
    /// Loads the config: defaults, then <paramref name="file"/>, then <paramref name="overrides"/> (the flags as
    /// <c>key=value</c>, then <c>--set</c>); throws <see cref="ConfigException"/> listing every problem.
    /// <paramref name="checkFirst"/> sees the merged config before it is validated (the HTTP adapter checks the listening
    /// address there, so a refused address is one line naming it, before anything else is read).
    /// </summary>
    public static ServeConfig Load(string? file, IEnumerable<string> overrides, Action<ServeConfig>? checkFirst = null)
    {
        var list = overrides.ToList();
        if (checkFirst is not null) checkFirst(ConfigLoader.Load<ServeConfig>(null, file, list));
        return ConfigLoader.Load<ServeConfig>(null, file, list, c => c.Validate());
    }

    /// <summary>A <c>key=value</c> override (<see cref="ConfigLoader.Set"/>).</summary>
    public static string Set(string key, object value) => ConfigLoader.Set(key, value);

    /// <summary>Writes the resolved config as <see cref="FileName"/> in <paramref name="stateDir"/> (atomically).</summary>
    public void Freeze(string stateDir)
    {
        Directory.CreateDirectory(stateDir);
        SparseMemory.Checkpoints.AtomicFile.WriteAllText(Path.Combine(stateDir, FileName), ConfigLoader.ToJson(this) + "\n");
    }
}
