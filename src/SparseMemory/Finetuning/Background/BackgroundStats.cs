using System.Globalization;
using SparseMemory.Checkpoints;

namespace SparseMemory.Finetuning;

/// <summary>
/// Background statistics of one value table (docs/method.md#background-statistics), computed once on the frozen model and stored
/// next to the checkpoint: the number of background batches |B|, the batch-level document frequency
/// df(i) = Σ_b 1[c_b(i) &gt; 0], and the total background access count C_bg(i) = Σ_b c_b(i) (for the KL ranker).
/// </summary>
/// <remarks>
/// Statistics are per value row of the one table shared by all memory layers, summed over layers, exactly
/// as <see cref="SlotCounts"/> counts them. Files are safetensors with int64 tensors <c>df</c> and
/// <c>counts</c> and the metadata in the <c>__metadata__</c> header.
/// </remarks>
public sealed class BackgroundStats
{
    /// <summary>The file format version written by <see cref="Save"/> and accepted by <see cref="Load"/>.</summary>
    public const int CurrentFormatVersion = 1;

    private const string FormatKey = "format";
    private const string FormatName = "smf-background-stats";

    private readonly long[] _df;
    private readonly long[] _counts;

    /// <summary>Creates empty statistics (|B| = 0) for a table of <paramref name="slotCount"/> rows.</summary>
    /// <param name="slotCount">Rows S of the value table.</param>
    /// <param name="modelFingerprint">SHA-256 hex of the checkpoint's model.safetensors bytes.</param>
    /// <param name="padPolicy">Pad policy every accumulated <see cref="SlotCounts"/> must share.</param>
    /// <param name="createdAt">Creation time; now (UTC) when null.</param>
    public BackgroundStats(long slotCount, string modelFingerprint, PadPolicy padPolicy = PadPolicy.ExcludePadding, DateTimeOffset? createdAt = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(slotCount);
        ArgumentNullException.ThrowIfNull(modelFingerprint);
        _df = new long[slotCount];
        _counts = new long[slotCount];
        ModelFingerprint = modelFingerprint;
        PadPolicy = padPolicy;
        CreatedAt = createdAt ?? DateTimeOffset.UtcNow;
    }

    private BackgroundStats(long[] df, long[] counts, long numBatches, string fingerprint, PadPolicy padPolicy, DateTimeOffset createdAt)
    {
        _df = df;
        _counts = counts;
        NumBatches = numBatches;
        ModelFingerprint = fingerprint;
        PadPolicy = padPolicy;
        CreatedAt = createdAt;
    }

    /// <summary>File format version of these statistics.</summary>
    public int FormatVersion => CurrentFormatVersion;

    /// <summary>SHA-256 hex of the model.safetensors the statistics were computed with.</summary>
    public string ModelFingerprint { get; }

    /// <summary>Rows S of the value table.</summary>
    public long SlotCount => _df.LongLength;

    /// <summary>Whether pad positions were counted.</summary>
    public PadPolicy PadPolicy { get; }

    /// <summary>When the statistics were created.</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>|B|: the number of background batches accumulated.</summary>
    public long NumBatches { get; private set; }

    /// <summary>df(i): the number of background batches that read slot i at least once.</summary>
    public ReadOnlySpan<long> DocumentFrequency => _df;

    /// <summary>C_bg(i): the total number of background accesses of slot i.</summary>
    public ReadOnlySpan<long> TotalCounts => _counts;

    /// <summary>Adds one background batch.</summary>
    /// <param name="batch">Counts of the batch, for the same table and pad policy.</param>
    public void Accumulate(SlotCounts batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.SlotCount != SlotCount)
        {
            throw new ArgumentException($"The batch counts {batch.SlotCount} slots but the background stats hold {SlotCount}.", nameof(batch));
        }

        if (batch.PadPolicy != PadPolicy)
        {
            throw new ArgumentException($"The batch was counted with {batch.PadPolicy} but the background stats use {PadPolicy}.", nameof(batch));
        }

        var c = batch.Counts;
        for (int i = 0; i < c.Length; i++)
        {
            if (c[i] > 0)
            {
                _df[i]++;
                _counts[i] = checked(_counts[i] + c[i]);
            }
        }

        NumBatches++;
    }

    /// <summary>
    /// Throws when the statistics were computed for a different checkpoint than <paramref name="expectedFingerprint"/>.
    /// </summary>
    /// <param name="expectedFingerprint">SHA-256 hex of the model being finetuned.</param>
    /// <param name="statsPath">The stats file, named in the error.</param>
    /// <exception cref="InvalidOperationException">The fingerprints differ.</exception>
    public void EnsureMatches(string expectedFingerprint, string statsPath)
    {
        ArgumentNullException.ThrowIfNull(expectedFingerprint);
        if (!string.Equals(ModelFingerprint, expectedFingerprint, StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(
                $"background stats {statsPath} were computed for checkpoint {ModelFingerprint}, but the model is {expectedFingerprint}; re-run `smf background --model DIR`.");
        }
    }

    /// <summary>Writes the statistics atomically (<see cref="AtomicFile"/>) as safetensors (<see cref="SafeTensors.SaveInt64"/>).</summary>
    /// <param name="path">Destination file, conventionally <c>background_stats.safetensors</c>.</param>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var metadata = new Dictionary<string, string>
        {
            [FormatKey] = FormatName,
            ["format_version"] = CurrentFormatVersion.ToString(CultureInfo.InvariantCulture),
            ["model_fingerprint"] = ModelFingerprint,
            ["slot_count"] = SlotCount.ToString(CultureInfo.InvariantCulture),
            ["num_batches"] = NumBatches.ToString(CultureInfo.InvariantCulture),
            ["pad_policy"] = PadPolicy.ToString(),
            ["created_at"] = CreatedAt.ToString("O", CultureInfo.InvariantCulture),
        };
        SafeTensors.SaveInt64(path, [("df", _df), ("counts", _counts)], metadata);
    }

    /// <summary>Reads and validates statistics written by <see cref="Save"/>.</summary>
    /// <param name="path">The stats file.</param>
    /// <param name="expectedSlotCount">When given, the table size the model has; a different size is an error.</param>
    /// <exception cref="InvalidDataException">The file is truncated or corrupt, has another format version or slot count.</exception>
    public static BackgroundStats Load(string path, long? expectedSlotCount = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Dictionary<string, long[]> tensors;
        Dictionary<string, string> meta;
        try
        {
            (tensors, meta) = SafeTensors.LoadInt64(path);
        }
        catch (InvalidDataException e)
        {
            string detail = e.Message.StartsWith(path + ": ", StringComparison.Ordinal) ? e.Message[(path.Length + 2)..] : e.Message;
            throw new InvalidDataException(
                $"Background stats file '{path}' is not a valid safetensors file: {detail}. Delete it and re-run `smf background --model DIR` to recompute it.", e);
        }

        string Meta(string key) => meta.TryGetValue(key, out var v)
            ? v
            : throw Invalid(path, $"the metadata lacks '{key}'", "it was not written by `smf background`; re-run `smf background --model DIR`");

        long MetaLong(string key) => long.TryParse(Meta(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)
            ? v
            : throw Invalid(path, $"metadata '{key}' = '{Meta(key)}' is not an integer", "re-run `smf background --model DIR`");

        if (Meta(FormatKey) != FormatName)
        {
            throw Invalid(path, $"its format is '{Meta(FormatKey)}', not '{FormatName}'", "pass a file written by `smf background`");
        }

        long version = MetaLong("format_version");
        if (version != CurrentFormatVersion)
        {
            throw Invalid(path, $"it has format version {version} but this build reads version {CurrentFormatVersion}", "re-run `smf background --model DIR` with this build");
        }

        long slotCount = MetaLong("slot_count");
        long numBatches = MetaLong("num_batches");
        if (!tensors.TryGetValue("df", out var df) || !tensors.TryGetValue("counts", out var counts))
        {
            throw Invalid(path, "it lacks the 'df' or 'counts' tensor", "re-run `smf background --model DIR`");
        }

        if (df.LongLength != slotCount || counts.LongLength != slotCount)
        {
            throw Invalid(path, $"metadata says {slotCount} slots but the tensors hold {df.LongLength} (df) and {counts.LongLength} (counts)", "re-run `smf background --model DIR`");
        }

        if (expectedSlotCount is long expected && expected != slotCount)
        {
            throw Invalid(path, $"it holds {slotCount} slots but the model's value table has {expected}", "re-run `smf background --model DIR` for this model");
        }

        if (!Enum.TryParse<PadPolicy>(Meta("pad_policy"), out var padPolicy) || !Enum.IsDefined(padPolicy))
        {
            throw Invalid(path, $"unknown pad policy '{Meta("pad_policy")}'", "re-run `smf background --model DIR`");
        }

        if (!DateTimeOffset.TryParse(Meta("created_at"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var createdAt))
        {
            throw Invalid(path, $"created_at '{Meta("created_at")}' is not a timestamp", "re-run `smf background --model DIR`");
        }

        if (numBatches < 0)
        {
            throw Invalid(path, $"num_batches is {numBatches}", "re-run `smf background --model DIR`");
        }

        for (int i = 0; i < df.Length; i++)
        {
            if (df[i] < 0 || df[i] > numBatches || counts[i] < df[i] || (df[i] == 0) != (counts[i] == 0))
            {
                throw Invalid(path, $"slot {i} has df {df[i]} and count {counts[i]}, inconsistent with {numBatches} batches", "re-run `smf background --model DIR`");
            }
        }

        return new BackgroundStats(df, counts, numBatches, Meta("model_fingerprint"), padPolicy, createdAt);
    }

    private static InvalidDataException Invalid(string path, string problem, string fix) =>
        new($"Background stats file '{path}' cannot be used: {problem}. Fix: {fix}.");
}
