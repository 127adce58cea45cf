using System.Globalization;
using System.Text.Json;
using SparseMemory.Config;
using static TorchSharp.torch;

namespace SparseMemory.Checkpoints;

/// <summary>What one training checkpoint writes, as the trainer hands it over.</summary>
/// <param name="State">Progress, written as <c>trainer_state.json</c>.</param>
/// <param name="Weights">The exported weights, written as <c>model.safetensors</c> (a plain model; e.g. LoRA merged).</param>
/// <param name="TrainableState">Method-specific state for resuming, written as <c>trainable_state.safetensors</c>; null when the weights are that state.</param>
/// <param name="SaveOptimizer">Writes the optimizer state (<c>optimizer.bin</c>) to a stream.</param>
public sealed record TrainingSnapshot(
    TrainerState State,
    IEnumerable<(string Name, Tensor Tensor)> Weights,
    IReadOnlyList<(string Name, Tensor Tensor)>? TrainableState,
    Action<Stream> SaveOptimizer);

/// <summary>Where a resumed checkpoint is loaded into.</summary>
/// <param name="Method">The training method's name; a checkpoint written by another method is refused.</param>
/// <param name="ModelState">The model's state dict, loaded from <c>model.safetensors</c> when <paramref name="TrainableState"/> is null.</param>
/// <param name="TrainableState">Tensors loaded from <c>trainable_state.safetensors</c> instead (e.g. LoRA adapters), or null.</param>
/// <param name="LoadOptimizer">Restores the optimizer state from a stream (the second argument names it in errors).</param>
public sealed record TrainingRestore(
    string Method,
    IReadOnlyList<(string Name, Tensor Tensor)> ModelState,
    IReadOnlyList<(string Name, Tensor Tensor)>? TrainableState,
    Action<Stream, string> LoadOptimizer);

/// <summary>What <see cref="TrainingCheckpoint.Recover"/> found in a run folder and did about it.</summary>
/// <param name="RolledForwardStep">The step of a committed checkpoint whose files were moved into place, or null.</param>
/// <param name="DiscardedStagedFiles">Staged files of an uncommitted checkpoint that were deleted (rolled back).</param>
/// <param name="RemovedTempFiles">Leftover temp files of interrupted atomic writes that were deleted.</param>
public sealed record CheckpointRecovery(int? RolledForwardStep, IReadOnlyList<string> DiscardedStagedFiles, IReadOnlyList<string> RemovedTempFiles)
{
    /// <summary>Nothing was found: the folder held one complete checkpoint (or none) and no leftovers.</summary>
    public bool Clean => RolledForwardStep is null && DiscardedStagedFiles.Count == 0 && RemovedTempFiles.Count == 0;

    /// <summary>One line for logs, e.g. "completed the interrupted commit of the step-6 checkpoint; removed 1 leftover temp file".</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (RolledForwardStep is int s) parts.Add($"completed the interrupted commit of the step-{s} checkpoint");
        if (DiscardedStagedFiles.Count > 0) parts.Add($"discarded an uncommitted checkpoint ({string.Join(", ", DiscardedStagedFiles)})");
        if (RemovedTempFiles.Count > 0) parts.Add($"removed {RemovedTempFiles.Count} leftover temp file{(RemovedTempFiles.Count == 1 ? "" : "s")}");
        return parts.Count == 0 ? "nothing to recover" : string.Join("; ", parts);
    }
}

/// <summary>
/// Saves and resumes training state in a run folder so that a checkpoint commits as a whole: at every instant the
/// folder holds one complete checkpoint under the usual names (<c>model.safetensors</c>,
/// <c>trainable_state.safetensors</c>, <c>optimizer.bin</c>, <c>trainer_state.json</c>, with <c>metrics.jsonl</c> rows up
/// to its step), whatever point a kill, crash or full disk interrupts.
/// </summary>
/// <remarks>
/// The commit protocol (docs/persistence.md):
/// <list type="number">
/// <item>fsync <c>metrics.jsonl</c>; write each file of checkpoint N as <c>NAME.next</c> (atomic write: temp, fsync, rename, folder fsync);</item>
/// <item>write the commit record <c>checkpoint.commit</c> (step and file names) atomically: from here on checkpoint N is the committed one;</item>
/// <item>rename each <c>NAME.next</c> over <c>NAME</c>, fsync the folder, delete the record, fsync the folder.</item>
/// </list>
/// <see cref="Recover"/> (run by <see cref="Resume"/> and at the start of <see cref="Save"/>) completes step 3 when a
/// record exists (roll forward) and otherwise deletes staged files (roll back to the previous checkpoint, which was never
/// touched); it also deletes leftover temp files. Metrics rows after the checkpoint's step are dropped on resume by the
/// trainer (<see cref="JsonlWriter.TruncateAfterStep"/>).
/// </remarks>
public static class TrainingCheckpoint
{
    /// <summary>The commit record: present only between the commit point and the end of the renames.</summary>
    public const string CommitFile = "checkpoint.commit";

    /// <summary>Suffix of a staged (written, not yet installed) checkpoint file.</summary>
    public const string StagedSuffix = ".next";

    /// <summary>The files a training checkpoint may consist of, in the order they are staged and installed.</summary>
    public static readonly IReadOnlyList<string> Files =
        [Checkpoint.ModelFile, Checkpoint.TrainableStateFile, Checkpoint.OptimizerFile, Checkpoint.StateFile];

    /// <summary>
    /// Test hook: called with the name of each point of the commit just passed (<c>staged:NAME</c>, <c>committed</c>,
    /// <c>installed:NAME</c>); throwing from it simulates a crash there. Flows with the calling test only.
    /// </summary>
    internal static readonly AsyncLocal<Action<string>?> FaultInjection = new();

    /// <summary>
    /// Environment variable that makes the process kill itself (SIGKILL, as <c>kill -9</c>) when a commit passes a named
    /// point: <c>SMF_FAULT_POINT=NAME[:OCCURRENCE]</c>, e.g. <c>committed:2</c> or <c>staged:optimizer.bin</c> (the
    /// first occurrence). The names are those of <see cref="FaultInjection"/>. For fault-injection tests of the real
    /// executable; read by <see cref="KillAtFaultPointFromEnvironment"/>.
    /// </summary>
    public const string FaultPointVariable = "SMF_FAULT_POINT";

    /// <summary>
    /// Arms <see cref="FaultPointVariable"/> for the calling flow when it is set (the <c>smf</c> executable calls this
    /// at start); returns whether it was. A malformed value is an <see cref="ArgumentException"/>.
    /// </summary>
    public static bool KillAtFaultPointFromEnvironment()
    {
        string? value = Environment.GetEnvironmentVariable(FaultPointVariable);
        if (string.IsNullOrWhiteSpace(value)) return false;
        string point = value.Trim();
        int occurrence = 1;
        int colon = point.LastIndexOf(':');
        if (colon > 0 && int.TryParse(point[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int n))
        {
            point = point[..colon];
            occurrence = n;
        }
        if (occurrence < 1 || !(point == "committed" || Files.Any(f => point == "staged:" + f || point == "installed:" + f)))
            throw new ArgumentException($"{FaultPointVariable}={value}: expected NAME[:OCCURRENCE] with NAME committed, staged:FILE or installed:FILE (FILE one of {string.Join(", ", Files)}) and OCCURRENCE ≥ 1");
        int seen = 0;
        FaultInjection.Value = p =>
        {
            if (p != point || ++seen != occurrence) return;
            using var self = System.Diagnostics.Process.GetCurrentProcess();
            self.Kill();                                                  // SIGKILL: no finally blocks, no flushing
            Thread.Sleep(Timeout.Infinite);
        };
        return true;
    }

    /// <summary>The commit record's content.</summary>
    /// <param name="Step">Step of the committed checkpoint.</param>
    /// <param name="Files">Names of the checkpoint's files, each staged as <c>NAME.next</c>.</param>
    sealed record CommitRecord(int Step, string[] Files);

    static void Passed(string point) => FaultInjection.Value?.Invoke(point);

    /// <summary>
    /// Writes checkpoint <c>snapshot.State.Step</c> into <paramref name="dir"/> by the commit protocol. When it throws
    /// before the commit point the previous checkpoint is still the folder's checkpoint; after it, the new one is
    /// (<see cref="Recover"/> finishes the renames).
    /// </summary>
    /// <param name="dir">The run folder.</param>
    /// <param name="snapshot">What to write.</param>
    /// <param name="metrics">The run's open metrics writer, synced to disk first so the rows up to this step are durable.</param>
    public static void Save(string dir, TrainingSnapshot snapshot, JsonlWriter? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        Directory.CreateDirectory(dir);
        FinishPendingCommit(dir);
        DiscardStaged(dir);
        metrics?.Sync();
        var stepMeta = new Dictionary<string, string> { ["step"] = snapshot.State.Step.ToString(CultureInfo.InvariantCulture) };
        var files = new List<string>();
        void Stage(string name, Action<Stream> write)
        {
            AtomicFile.Write(Path.Combine(dir, name + StagedSuffix), write);
            files.Add(name);
            Passed("staged:" + name);
        }
        Stage(Checkpoint.ModelFile, s => Checkpoint.WriteWeights(s, snapshot.Weights, stepMeta));
        if (snapshot.TrainableState is { } trainable)
            Stage(Checkpoint.TrainableStateFile, s => SafeTensors.Write(s, trainable, stepMeta));
        Stage(Checkpoint.OptimizerFile, snapshot.SaveOptimizer);
        Stage(Checkpoint.StateFile, s => WriteText(s, JsonSerializer.Serialize(snapshot.State, ConfigLoader.Json) + "\n"));
        var record = new CommitRecord(snapshot.State.Step, files.ToArray());
        AtomicFile.WriteAllText(Path.Combine(dir, CommitFile), JsonSerializer.Serialize(record, ConfigLoader.Json) + "\n");
        Passed("committed");
        Install(dir, record);
    }

    /// <summary>
    /// Brings <paramref name="dir"/> back to exactly one complete checkpoint: finishes a committed checkpoint's renames
    /// (roll forward), deletes staged files of an uncommitted one (roll back) and deletes leftover temp files of
    /// interrupted atomic writes (<see cref="AtomicFile.DeleteLeftovers"/>). Safe to run again after it was interrupted.
    /// </summary>
    /// <exception cref="InvalidDataException">The commit record is unreadable or names files outside <see cref="Files"/>.</exception>
    public static CheckpointRecovery Recover(string dir)
    {
        if (!Directory.Exists(dir)) return new CheckpointRecovery(null, [], []);
        int? forward = FinishPendingCommit(dir);
        var discarded = DiscardStaged(dir);
        var removed = AtomicFile.DeleteLeftovers(dir);
        return new CheckpointRecovery(forward, discarded, removed);
    }

    /// <summary>
    /// Recovers <paramref name="dir"/> (<see cref="Recover"/>) and loads its checkpoint into <paramref name="target"/>:
    /// the progress, then the weights (or the trainable state), checked to be of the same step, then the optimizer state
    /// unless the run is complete (<see cref="TrainerState.Completed"/> at <paramref name="totalSteps"/> or more).
    /// Returns a null state when the folder holds no checkpoint yet.
    /// </summary>
    /// <exception cref="InvalidDataException">The state is corrupt, of another method, or the files disagree on the step.</exception>
    public static (TrainerState? State, CheckpointRecovery Recovery) Resume(string dir, TrainingRestore target, int totalSteps)
    {
        ArgumentNullException.ThrowIfNull(target);
        var recovery = Recover(dir);
        var state = ReadState(dir);
        if (state is null) return (null, recovery);
        string statePath = Path.Combine(dir, Checkpoint.StateFile);
        if (state.Method != target.Method)
            throw new InvalidDataException($"{statePath}: the run in {dir} used method {state.Method}, not {target.Method}; use a new --out folder");
        string step = state.Step.ToString(CultureInfo.InvariantCulture);
        var stateFiles = target.TrainableState is null ? [Checkpoint.ModelFile] : new[] { Checkpoint.ModelFile, Checkpoint.TrainableStateFile };
        foreach (string name in stateFiles)
        {
            var meta = SafeTensors.ReadMetadata(Path.Combine(dir, name));
            if (meta.TryGetValue("step", out var s) && s != step)
                throw new InvalidDataException($"{dir}: {name} is from step {s} but {Checkpoint.StateFile} says {state.Step}; the files are not one checkpoint (copied or edited by hand?); delete the folder to start over");
        }
        if (target.TrainableState is null) Checkpoint.LoadInto(target.ModelState, Path.Combine(dir, Checkpoint.ModelFile));
        else Checkpoint.LoadInto(target.TrainableState, Path.Combine(dir, Checkpoint.TrainableStateFile));
        if (state.Completed && state.Step >= totalSteps) return (state, recovery);
        string optimizerPath = Path.Combine(dir, Checkpoint.OptimizerFile);
        if (!File.Exists(optimizerPath))
            throw new InvalidDataException($"{optimizerPath}: missing, so the run cannot resume (the other checkpoint files are there); delete the run folder to start over");
        try
        {
            using var fs = File.OpenRead(optimizerPath);
            target.LoadOptimizer(fs, optimizerPath);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentException or InvalidOperationException or FormatException or OverflowException
                                      || (e is InvalidDataException && !e.Message.Contains(optimizerPath, StringComparison.Ordinal)))
        {
            throw new InvalidDataException($"{optimizerPath}: cannot be read ({e.Message.ReplaceLineEndings(" ")}); the file is truncated or corrupt — delete the run folder to start over", e);
        }
        return (state, recovery);
    }

    /// <summary>The progress of the checkpoint in <paramref name="dir"/>, or null when there is none (call <see cref="Recover"/> first).</summary>
    /// <exception cref="InvalidDataException"><c>trainer_state.json</c> is not valid.</exception>
    public static TrainerState? ReadState(string dir)
    {
        string statePath = Path.Combine(dir, Checkpoint.StateFile);
        if (!File.Exists(statePath)) return null;
        try { return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(statePath), ConfigLoader.Json) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new InvalidDataException($"{statePath}: cannot resume, the file is corrupt ({e.Message}); delete the run folder to start over"); }
    }

    /// <summary>Rolls a committed checkpoint forward when a commit record exists; returns its step.</summary>
    static int? FinishPendingCommit(string dir)
    {
        string path = Path.Combine(dir, CommitFile);
        if (!File.Exists(path)) return null;
        var record = ReadRecord(path);
        Install(dir, record);
        return record.Step;
    }

    static CommitRecord ReadRecord(string path)
    {
        CommitRecord? record;
        try { record = JsonSerializer.Deserialize<CommitRecord>(File.ReadAllText(path), ConfigLoader.Json); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: the commit record is corrupt ({e.Message}); the checkpoint it names cannot be completed — delete the run folder to start over"); }
        if (record is null || record.Files is null || record.Files.Length == 0 || record.Files.Any(f => !Files.Contains(f)))
            throw new InvalidDataException($"{path}: the commit record names no files or files that are not checkpoint files ({string.Join(", ", record?.Files ?? [])}); delete the run folder to start over");
        return record;
    }

    /// <summary>Renames every staged file of <paramref name="record"/> into place (those already moved are skipped), then retires the record.</summary>
    static void Install(string dir, CommitRecord record)
    {
        foreach (string name in record.Files)
        {
            string staged = Path.Combine(dir, name + StagedSuffix);
            if (File.Exists(staged)) AtomicFile.Rename(staged, Path.Combine(dir, name));
            Passed("installed:" + name);
        }
        AtomicFile.SyncDirectory(dir);                                  // the renames are durable before the record goes
        File.Delete(Path.Combine(dir, CommitFile));
        AtomicFile.SyncDirectory(dir);
    }

    /// <summary>Deletes staged files that no commit record names (an uncommitted checkpoint); returns their names.</summary>
    static List<string> DiscardStaged(string dir)
    {
        var discarded = new List<string>();
        foreach (string name in Files)
        {
            string staged = Path.Combine(dir, name + StagedSuffix);
            if (!File.Exists(staged)) continue;
            File.Delete(staged);
            discarded.Add(name + StagedSuffix);
        }
        if (discarded.Count > 0) AtomicFile.SyncDirectory(dir);
        return discarded;
    }

    static void WriteText(Stream s, string text)
    {
        using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), leaveOpen: true);
        w.Write(text);
    }
}
