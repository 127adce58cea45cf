namespace SparseMemory.Runs.Serve;

/// <summary>Settings of <c>smf serve</c> (docs/serve.md). Every limit is checked at start by <see cref="Validate"/>.</summary>
public sealed record ServeOptions
{
    /// <summary>Checkpoint folder of the model served; never modified.</summary>
    public required string ModelDir { get; init; }
    /// <summary>Journal and service checkpoints; null = <c>MODEL/serve</c>.</summary>
    public string? StateDir { get; init; }
    /// <summary>Bearer token that learn and undo (and with <see cref="ProtectAsk"/> asks) require.</summary>
    public required string Token { get; init; }
    /// <summary>t: value rows updated per learn step (sparse memory finetuning's default 512).</summary>
    public int TopT { get; init; } = 512;
    /// <summary>SGD learning rate; null = the sparse method's registry default.</summary>
    public double? Lr { get; init; }
    /// <summary>Optimizer steps per learn, each on the same batch of paraphrases.</summary>
    public int StepsPerLearn { get; init; } = 1;
    /// <summary>Paraphrases per batch (the finetuning default).</summary>
    public int Paraphrases { get; init; } = 16;
    /// <summary>A service checkpoint of the value table is written in the background every K learns/undos (0 = only at shutdown).</summary>
    public int CheckpointEvery { get; init; } = 20;
    /// <summary>Forgetting check cadence in learns (0 = off; when on, it is also measured at start).</summary>
    public int CheckEvery { get; init; }
    /// <summary>
    /// Drift guard (0 = off; needs the check): when the check that a learn triggers finds the known-facts F1 fallen by more
    /// than this (absolute) or the held-out NLL risen by more than this (nats/token) since start, that learn is undone and
    /// refused (422).
    /// </summary>
    public double MaxDrift { get; init; }
    /// <summary>Items per probe of the forgetting check (a fixed seeded subset).</summary>
    public int CheckLimit { get; init; } = 32;
    /// <summary>Require the token for asks too.</summary>
    public bool ProtectAsk { get; init; }
    /// <summary>Largest request body accepted (bytes).</summary>
    public int MaxBodyBytes { get; init; } = 64 * 1024;
    /// <summary>Longest text, question, answer or prompt (characters).</summary>
    public int MaxTextChars { get; init; } = 4000;
    /// <summary>Longest document a learn takes (characters, counted as Unicode scalar values); a longer one is a 413 naming the limit.</summary>
    public int MaxDocumentChars { get; init; } = 16000;
    /// <summary>Most tokens per chunk of a document learn (at most the model's max_seq_len − 1; docs/documents.md).</summary>
    public int DocumentChunkTokens { get; init; } = 128;
    /// <summary>Most tokens an ask may generate.</summary>
    public int MaxAskTokens { get; init; } = 256;
    /// <summary>Learns accepted per minute (fixed window; 0 = unlimited).</summary>
    public int LearnsPerMinute { get; init; } = 60;
    /// <summary>With question and answer, also train on question-form paraphrases ("Question: … Answer: …"); off = statements only, as finetuning does.</summary>
    public bool QuestionForm { get; init; }
    /// <summary>Paraphrase sampling seed.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Torch threads (0 = library default).</summary>
    public int Threads { get; init; }
    /// <summary>
    /// Host names accepted in the Host header besides localhost, 127.0.0.1, [::1] and the hosts of the listening
    /// addresses (a defence against DNS rebinding: any other Host is a 400).
    /// </summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>Whether <paramref name="host"/> is a bare DNS name or IP address (IPv6 in brackets), as a Host header carries it without the port.</summary>
    public static bool IsHostName(string host)
    {
        if (host.Length == 0 || host.Trim() != host) return false;
        if (host.StartsWith('[') && host.EndsWith(']')) return Uri.CheckHostName(host[1..^1]) == UriHostNameType.IPv6;
        return Uri.CheckHostName(host) is UriHostNameType.Dns or UriHostNameType.IPv4;
    }

    /// <summary>The state folder in effect.</summary>
    public string EffectiveStateDir => StateDir ?? Path.Combine(ModelDir, "serve");

    /// <summary>Every problem at once; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (string.IsNullOrWhiteSpace(ModelDir)) e.Add("--model must name a checkpoint folder");
        if (string.IsNullOrWhiteSpace(Token)) e.Add("the token is empty (--token-file must hold a non-empty token)");
        if (TopT <= 0) e.Add($"--top-t must be ≥ 1, got {TopT}");
        if (Lr is { } lr && !(lr > 0)) e.Add($"--lr must be positive, got {lr}");
        if (StepsPerLearn is <= 0 or > 100) e.Add($"--steps-per-learn must be in 1..100, got {StepsPerLearn}");
        if (Paraphrases is <= 0 or > 256) e.Add($"--paraphrases must be in 1..256, got {Paraphrases}");
        if (CheckpointEvery < 0) e.Add("--checkpoint-every must be ≥ 0");
        if (CheckEvery < 0) e.Add("--check-every must be ≥ 0 (0 = off)");
        if (CheckLimit <= 0) e.Add("--check-limit must be ≥ 1");
        if (!(MaxDrift >= 0) || double.IsInfinity(MaxDrift)) e.Add($"--max-drift must be a finite number ≥ 0 (0 = off), got {MaxDrift}");
        else if (MaxDrift > 0 && CheckEvery <= 0) e.Add("--max-drift needs the forgetting check: also pass --check-every N");
        if (MaxBodyBytes < 1024) e.Add("the body limit must be at least 1 KiB");
        if (MaxTextChars <= 0 || MaxAskTokens <= 0) e.Add("text and token limits must be positive");
        if (MaxDocumentChars <= 0) e.Add($"max_document_chars must be ≥ 1, got {MaxDocumentChars}");
        if (DocumentChunkTokens <= 0) e.Add($"document_chunk_tokens must be ≥ 1, got {DocumentChunkTokens}");
        if (LearnsPerMinute < 0) e.Add("--learns-per-minute must be ≥ 0 (0 = unlimited)");
        foreach (string h in AllowedHosts)
            if (!IsHostName(h))
                e.Add($"--allowed-hosts: '{h}' is not a host name or IP address (give the name alone, without scheme, port or path, e.g. serve.example.org)");
        return e;
    }
}
