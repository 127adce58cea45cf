using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Chat;
using SparseMemory.Data.Documents;
using SparseMemory.Data.Facts;
using SparseMemory.Evaluation;
using SparseMemory.Evaluation.Probes;
using SparseMemory.Finetuning;
using SparseMemory.Memory;
using SparseMemory.Model;
using SparseMemory.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Runs.Serve;

/// <summary>What a client asked to learn (already validated): a fact (a text, optionally with question and answer) or,
/// with <paramref name="Document"/>, a document in <paramref name="Text"/> (chunked and augmented as <c>smf finetune --task
/// documents</c> does; docs/documents.md).</summary>
public sealed record LearnRequest(string Text, string? Question, string? Answer, bool Document = false);

/// <summary>The outcome of a learn.</summary>
/// <param name="Id">The learn's id (increasing from 1).</param>
/// <param name="Rows">Value rows whose values changed, in first-selected order.</param>
/// <param name="Loss">Loss of the first step (before any update).</param>
/// <param name="FinalLoss">Loss of the last step.</param>
/// <param name="Paraphrases">Texts in the batch.</param>
/// <param name="Milliseconds">Time from dequeue to acknowledgement.</param>
/// <param name="Chunks">Chunks of a document learn (0 for a fact).</param>
/// <param name="Steps">Training steps taken.</param>
public sealed record LearnResult(long Id, long[] Rows, double Loss, double FinalLoss, int Paraphrases, double Milliseconds, int Chunks = 0, int Steps = 0);

/// <summary>One continuation and how it ended.</summary>
/// <param name="Text">The generated text, cut before the first stop sequence.</param>
/// <param name="Tokens">Tokens the model generated (the end-of-text token excluded; a stop sequence's tokens included).</param>
/// <param name="FinishReason"><c>length</c> when <see cref="SamplingOptions.MaxTokens"/> cut generation off, else <c>stop</c> (end of text or a stop sequence).</param>
/// <param name="Logprobs">With <c>logprobs</c>: the generated tokens' (offsets into <paramref name="Text"/>; after a stop sequence cut, the tokens that begin before the cut).</param>
/// <param name="PromptLogprobs">With <c>logprobs</c> and <c>echo</c>: the prompt tokens' (offsets into the prompt as decoded; the first has no log-probability).</param>
public sealed record Completion(string Text, int Tokens, string FinishReason, CompletionLogprobs? Logprobs = null, CompletionLogprobs? PromptLogprobs = null);

/// <summary>The batches of one learn (<see cref="MemoryService.Plan"/>).</summary>
/// <param name="Steps">Training steps.</param>
/// <param name="Batch">The batch of a step (its tensors belong to the caller's dispose scope).</param>
/// <param name="Paraphrases">Lines per batch.</param>
/// <param name="Chunks">Chunks of a document (0 for a fact).</param>
public sealed record LearnPlan(int Steps, Func<int, TrainingBatch> Batch, int Paraphrases, int Chunks);

/// <summary>The outcome of an undo: the learns restored (newest first) and the rows written.</summary>
public sealed record UndoResult(long[] Undone, int Rows);

/// <summary>One learn as <c>GET /learned</c> lists it.</summary>
public sealed record LearnInfo(long Id, DateTime Time, string Text, string? Question, string? Answer, long[] Rows, double Loss,
    bool Undone, DateTime? UndoneAt, bool Document = false);

/// <summary>A learn whose content cannot be learned as given (HTTP 400): e.g. a document that holds no text after cleaning.</summary>
public sealed class BadLearnException(string message) : Exception(message);

/// <summary>Unknown learn id (HTTP 404).</summary>
public sealed class LearnNotFoundException(long id) : Exception($"no learn with id {id}")
{
    /// <summary>The id asked for.</summary>
    public long Id { get; } = id;
}

/// <summary>An undo that would break a later learn (HTTP 409).</summary>
public sealed class UndoConflictException(string message, long[] later) : Exception(message)
{
    /// <summary>The later, not undone learns that changed the same rows (empty when the learn is already undone).</summary>
    public long[] Later { get; } = later;
}

/// <summary>The torch thread's queue is full (HTTP 503).</summary>
public sealed class ServiceBusyException(string message) : Exception(message);

/// <summary>A learn whose training step diverged (<see cref="TrainingDivergedException"/>): refused, its rows put back, nothing journaled (HTTP 422).</summary>
public sealed class LearnDivergedException(string message, Exception inner) : Exception(message, inner);

/// <summary>A learn refused by the drift guard (it has been undone).</summary>
public sealed class DriftGuardException(string message) : Exception(message);

/// <summary>
/// A model that learns while it serves (docs/serve.md). Every libtorch call of the service — loading, recovery, asks,
/// completions, learns, undos, the forgetting check and the copy a checkpoint writes — runs on one dedicated thread
/// behind a queue of work items, each with a task the caller awaits (the guard of docs/pitfalls.md#background-gc-finalizes-scalars
/// assumes one torch thread). Two copies of the checkpoint are loaded: the <b>learner</b> (forward with the memory
/// access log, backward, sparse row update: <see cref="TrainStep"/>, as <c>smf finetune</c>) and the <b>server</b>,
/// which answers asks. A learn runs on the learner, is journaled and fsynced, and only then are its new rows copied into
/// the server's value table; since asks run on the same thread, an ask sees every row of a learn or none, and never an
/// unacknowledged one. Work runs one item at a time, in arrival order.
/// </summary>
public sealed class MemoryService : IDisposable
{
    /// <summary>Service checkpoint file in the state folder.</summary>
    public const string CheckpointFile = "values.safetensors";
    /// <summary>Identity file of the state folder (the model it belongs to).</summary>
    public const string StateFile = "state.json";
    const string ValueName = "memory_values.weight";
    /// <summary>Learns and undos that may wait at once (503 above).</summary>
    public const int MaxQueue = 64;
    /// <summary>Asks, completions and other reads that may wait at once (503 above).</summary>
    public const int MaxReadQueue = 256;

    readonly ServeOptions _options;
    readonly Action<string> _log;
    LoadedModel _learner = null!, _server = null!;
    ITrainingMethod _method = null!;
    TrainStep _step = null!;
    Journal _journal = null!;
    string _stateDir = null!, _fingerprint = null!;
    long _valueRows;
    readonly TorchQueue _queue = new();
    Action? _final;
    readonly Thread _torch;
    int _pendingWrites, _pendingReads;
    readonly object _indexLock = new();
    readonly SortedDictionary<long, LearnInfo> _learns = [];
    long _seq, _nextId = 1, _checkpointSeq;
    int _sinceCheckpoint, _learnsSinceCheck;
    Task _checkpointTask = Task.CompletedTask;
    IReadOnlyDictionary<string, double>? _baseline, _latest;
    readonly List<(int Learns, DateTime Time, IReadOnlyDictionary<string, double> Values)> _checks = [];   // every forgetting check, oldest first
    int _latestAfterLearns;
    bool _disposed;

    /// <summary>Learning rate in effect.</summary>
    public double Lr { get; private set; }

    /// <summary>The served model's folder.</summary>
    public string ModelDir => _options.ModelDir;

    /// <summary>Journal lines replayed at start (after the last service checkpoint).</summary>
    public int Replayed { get; private set; }

    /// <summary>Starts the torch thread, and on it loads the model twice and recovers the state folder (checkpoint + journal replay).</summary>
    public MemoryService(ServeOptions options, Action<string>? log = null)
    {
        var problems = options.Validate();
        if (problems.Count > 0) throw new ConfigException("invalid serve options:\n  " + string.Join("\n  ", problems));
        _options = options;
        _log = log ?? (_ => { });
        _torch = new Thread(TorchLoop) { IsBackground = true, Name = "smf-serve-torch" };
        _torch.Start();
        try
        {
            Enqueue(() => { Initialize(options); return 0; }, write: true).GetAwaiter().GetResult();
            if (options.CheckEvery > 0) Enqueue(() => { _baseline = RunCheck(); _latest = _baseline; RecordCheck(0, _baseline); return 0; }, write: true).GetAwaiter().GetResult();
        }
        catch
        {
            _queue.CompleteAdding();
            _torch.Join();
            throw;
        }
    }

    /// <summary>Everything the constructor does with torch (on the torch thread).</summary>
    void Initialize(ServeOptions options)
    {
        Runtime.Configure(options.Seed, options.Threads);
        string dir = options.ModelDir;
        _learner = Checkpoint.Load(dir);
        if (_learner.Model.MemoryValues is null) throw new InvalidOperationException($"{dir}: the model has no memory layer; smf serve teaches memory rows");
        var cfg = new FinetuneConfig
        {
            BaseModel = dir, Model = _learner.Model.Config, Method = SparseMemoryMethod.Spec.Name, Lr = options.Lr, Seed = options.Seed,
            Sparse = new SparseConfig { TopT = options.TopT },
        };
        var errors = FinetuneMethods.Validate(cfg);
        if (errors.Count > 0) throw new ConfigException("invalid learning settings:\n  " + string.Join("\n  ", errors));
        Lr = FinetuneMethods.EffectiveLr(cfg);
        _method = FinetuneMethods.Create(cfg, dir);
        _valueRows = _learner.Model.MemoryValues.shape[0];

        _server = Checkpoint.Load(dir);
        foreach (var p in _server.Model.parameters()) p.requires_grad = false;
        Chat = ChatPrompt.For(_server.Tokenizer);
        _log(Chat.Kind switch
        {
            ChatPrompt.TemplateKind => "chat: /v1/chat/completions renders the model's chat template",
            ChatPrompt.PlainKind => "chat: the model has no chat template; /v1/chat/completions writes a plain transcript (\"User: …\", \"Assistant:\")",
            _ => $"chat: {Chat.Problem}; /v1/chat/completions refuses requests (400), /v1/completions is unaffected",
        });
        _fingerprint = Checkpoint.Fingerprint(dir);
        _stateDir = options.EffectiveStateDir;
        Directory.CreateDirectory(_stateDir);
        CheckStateIdentity();
        _journal = Journal.Open(_stateDir);
        if (_journal.DroppedTornLine) _log("journal: dropped a torn last line (a learn that was never acknowledged)");
        Replayed = Recover();
        // The training step of smf finetune (forward, backward, row selection, clipping, the divergence checks, the row
        // update); built after recovery, so its row-norm reference is the table the service starts from.
        _step = new TrainStep(_learner.Model, _method, FinetuneMethods.Loop(cfg, 1));
        _step.SetLearningRates(0);
        WarmUp();
    }

    // ------------------------------------------------------------------ start-up

    void CheckStateIdentity()
    {
        string path = Path.Combine(_stateDir, StateFile);
        var shape = _learner.Model.MemoryValues!.shape;
        if (File.Exists(path))
        {
            var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            string? fp = o["model_fingerprint"]?.GetValue<string>();
            if (fp != _fingerprint)
                throw new InvalidDataException($"{_stateDir}: this state folder belongs to another model (fingerprint {fp}); use another --state folder");
            return;
        }
        var state = new JsonObject
        {
            ["model"] = Path.GetFullPath(_options.ModelDir), ["model_fingerprint"] = _fingerprint,
            ["slots"] = shape[0], ["value_dim"] = shape[1], ["created"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        AtomicFile.WriteAllText(path, state.ToJsonString(ConfigLoader.Json) + "\n");
    }

    /// <summary>Loads the last service checkpoint and replays the journal lines after it. Returns the lines replayed.</summary>
    int Recover()
    {
        string ckpt = Path.Combine(_stateDir, CheckpointFile);
        if (File.Exists(ckpt))
        {
            var (t, meta) = SafeTensors.Load(ckpt);
            try
            {
                if (meta.GetValueOrDefault("model_fingerprint") != _fingerprint)
                    throw new InvalidDataException($"{ckpt}: written for another model");
                if (!t.TryGetValue(ValueName, out var table) || !table.shape.SequenceEqual(_learner.Model.MemoryValues!.shape))
                    throw new InvalidDataException($"{ckpt}: expected {ValueName} with shape [{string.Join(", ", _learner.Model.MemoryValues!.shape)}]");
                _checkpointSeq = long.Parse(meta["journal_seq"], CultureInfo.InvariantCulture);
                using (torch.no_grad())
                {
                    _learner.Model.MemoryValues!.copy_(table);
                    _server.Model.MemoryValues!.copy_(table);
                }
            }
            finally { foreach (var x in t.Values) x.Dispose(); }
        }
        if (_checkpointSeq > _journal.Entries.Count)
            throw new InvalidDataException($"{ckpt}: checkpoint is at journal line {_checkpointSeq} but the journal has {_journal.Entries.Count} lines");
        int replayed = 0;
        foreach (var e in _journal.Entries)
        {
            if (e.Type == Journal.LearnType)
            {
                _learns[e.Id] = new LearnInfo(e.Id, e.Time, e.Text, e.Question, e.Answer, e.Rows, e.Loss, false, null, e.Document);
                _nextId = Math.Max(_nextId, e.Id + 1);
                if (e.Seq > _checkpointSeq) { ApplyValues(e.Id, useNew: true); replayed++; }
            }
            else if (e.Type == Journal.UndoType)
            {
                foreach (long id in e.Undone)
                {
                    if (!_learns.TryGetValue(id, out var info)) throw new InvalidDataException($"journal line {e.Seq} undoes unknown learn {id}");
                    _learns[id] = info with { Undone = true, UndoneAt = e.Time };
                    if (e.Seq > _checkpointSeq) ApplyValues(id, useNew: false);
                }
                if (e.Seq > _checkpointSeq) replayed++;
            }
            else throw new InvalidDataException($"journal line {e.Seq}: unknown type '{e.Type}'");
            _seq = e.Seq;
        }
        if (replayed > 0)
        {
            _log($"recovered: service checkpoint at journal line {_checkpointSeq}, replayed {replayed} line(s) after it");
            WriteCheckpoint(CopyTable(), _seq);       // so the next start does not replay them again
            _checkpointSeq = _seq;
        }
        return replayed;
    }

    /// <summary>Writes learn <paramref name="id"/>'s new (or old) row values into both models.</summary>
    void ApplyValues(long id, bool useNew)
    {
        var (rows, old, @new) = _journal.ReadValues(id);
        using (rows) using (old) using (@new)
        {
            var v = useNew ? @new : old;
            using (torch.no_grad()) _learner.Model.MemoryValues!.index_copy_(0, rows, v);
            WriteServer(rows, v);
        }
    }

    void WriteServer(Tensor rows, Tensor values)
    {
        using (torch.no_grad()) _server.Model.MemoryValues!.index_copy_(0, rows, values);
    }

    /// <summary>One short generation so lazily built caches (rotary tables, candidate pairs) exist before the first ask.</summary>
    void WarmUp() => TextGenerator.Generate(_server.Model, _server.Tokenizer, "Hello", new SamplingOptions(MaxTokens: 1));

    // ------------------------------------------------------------------ the torch thread

    void TorchLoop()
    {
        foreach (var work in _queue.Consume()) work();
        _final?.Invoke();
    }

    /// <summary>Whether the caller is the torch thread (work it does itself needs no queue).</summary>
    bool OnTorchThread => Thread.CurrentThread == _torch;

    /// <summary>
    /// Queues <paramref name="work"/> for the torch thread; the task completes with its result or exception. A learn or
    /// undo (<paramref name="write"/>) waits behind at most <see cref="MaxQueue"/> others of its kind, a read behind
    /// <see cref="MaxReadQueue"/>; above that the caller gets <see cref="ServiceBusyException"/> at once.
    /// </summary>
    Task<T> Enqueue<T>(Func<T> work, bool write)
    {
        if (_disposed) return Task.FromException<T>(new ObjectDisposedException(nameof(MemoryService)));
        if (OnTorchThread)
        {
            try { return Task.FromResult(work()); }
            catch (Exception e) { return Task.FromException<T>(e); }
        }
        ref int pending = ref write ? ref _pendingWrites : ref _pendingReads;
        int limit = write ? MaxQueue : MaxReadQueue;
        if (Interlocked.Increment(ref pending) > limit)
        {
            int waiting = Interlocked.Decrement(ref pending);
            throw new ServiceBusyException(write ? $"{waiting} learns/undos are waiting; try again shortly" : $"{waiting} asks are waiting; try again shortly");
        }
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool isWrite = write;
        try
        {
            _queue.Add(write, () =>
            {
                if (isWrite) Interlocked.Decrement(ref _pendingWrites); else Interlocked.Decrement(ref _pendingReads);
                try { tcs.SetResult(work()); }
                catch (Exception e) { tcs.SetException(e); }
            });
        }
        catch (InvalidOperationException)   // adding completed: the service is stopping
        {
            if (write) Interlocked.Decrement(ref _pendingWrites); else Interlocked.Decrement(ref _pendingReads);
            return Task.FromException<T>(new ObjectDisposedException(nameof(MemoryService)));
        }
        return tcs.Task;
    }

    /// <summary>Work items waiting for the torch thread (learns, undos and reads).</summary>
    public int QueueLength => Volatile.Read(ref _pendingWrites) + Volatile.Read(ref _pendingReads);

    /// <summary>Teaches one fact or text; completes once the learn is journaled (fsynced) and visible to asks.</summary>
    public Task<LearnResult> LearnAsync(LearnRequest request) => Enqueue(() =>
    {
        var result = Learn(request);
        if (AfterChange(learned: true) && DriftTooLarge() is { } why)
        {
            Undo(result.Id, cascade: false);
            AfterChange(learned: false);
            throw new DriftGuardException($"learn {result.Id} was undone: {why} (--max-drift {_options.MaxDrift:G4})");
        }
        return result;
    }, write: true);

    /// <summary>Undoes learn <paramref name="id"/> (and with <paramref name="cascade"/> the later learns that overlap it).</summary>
    public Task<UndoResult> UndoAsync(long id, bool cascade) => Enqueue(() =>
    {
        var result = Undo(id, cascade);
        AfterChange(learned: false);
        return result;
    }, write: true);

    /// <summary>The paraphrase batch of a learn: a fact (question + answer) or the text's sentences, each through the paraphrase templates.</summary>
    public IReadOnlyList<string> Paraphrases(LearnRequest r)
    {
        var sentences = SplitSentences(r.Text);
        if (sentences.Count == 0) sentences = [r.Text.Trim()];
        string answer = r.Answer?.Trim() ?? "";
        // The fact id seeds the paraphrase sample: the same request gives the same batch (and, from the same table, the same update).
        var fact = new Fact($"serve:{r.Text}\n{r.Question}\n{r.Answer}", "", "serve", answer, answer.Length > 0 ? [answer] : [], r.Question?.Trim() ?? "", sentences, "serve");
        var options = new ParaphraseOptions(AllowQuestionForm: r.Question is not null && r.Answer is not null && _options.QuestionForm, Questions: QuestionSource.Verbatim);
        return FactParaphraser.Paraphrases(fact, _options.Paraphrases, _options.Seed, options);
    }

    /// <summary>Sentences of a short document (split after . ! ? followed by white space; at most 16).</summary>
    public static IReadOnlyList<string> SplitSentences(string text) =>
        Regex.Split(text.Trim(), @"(?<=[.!?])\s+").Select(s => s.Trim()).Where(s => s.Length > 0).Take(16).ToList();

    /// <summary>
    /// The batches of a learn: for a fact, its paraphrase batch on each of <see cref="ServeOptions.StepsPerLearn"/> steps;
    /// for a document, one chunk after another, <see cref="ServeOptions.StepsPerLearn"/> steps each, every step's batch
    /// filled by the augmentation strategies (<see cref="DocumentLesson"/>, the stream of <c>smf finetune --task documents</c>).
    /// </summary>
    /// <exception cref="BadLearnException">A document that is empty, holds a NUL or is over the reader's size limit.</exception>
    public LearnPlan Plan(LearnRequest r)
    {
        var tok = _learner.Tokenizer;
        int maxLen = _learner.Model.Config.MaxSeqLen;
        if (!r.Document)
        {
            var texts = Paraphrases(r);
            var ids = texts.Select(t => tok.Encode(t)).ToList();
            return new LearnPlan(_options.StepsPerLearn, _ => FactBatches.Pad(ids, tok, maxLen), texts.Count, 0);
        }
        DocumentLesson lesson;
        try
        {
            lesson = DocumentLesson.Plan(r.Text, tok,
                new DocumentLessonOptions(Math.Min(_options.DocumentChunkTokens, maxLen - 1), _options.Paraphrases, _options.StepsPerLearn, _options.Seed, maxLen));
        }
        catch (InvalidDataException e) { throw new BadLearnException(e.Message); }
        return new LearnPlan(lesson.Steps, lesson.Batch, _options.Paraphrases, lesson.Chunks.Count);
    }

    LearnResult Learn(LearnRequest request)
    {
        var clock = Stopwatch.StartNew();
        long id = _nextId;
        var plan = Plan(request);
        var model = _learner.Model;
        var values = model.MemoryValues!;
        var seen = new HashSet<long>();
        var order = new List<long>();
        var oldChunks = new List<Tensor>();
        double firstLoss = double.NaN, lastLoss = double.NaN;
        try
        {
            for (int step = 0; step < plan.Steps; step++)
            {
                using var scope = torch.NewDisposeScope();
                var batch = plan.Batch(step);
                // The old values of the rows this step selected are kept before the update, so the learn can be undone,
                // journaled with its old values, or put back when the step is refused.
                var outcome = _step.Run(step, batch, context =>
                {
                    var selected = context.RowsToUpdate
                        ?? throw new InvalidOperationException($"method {_method.Name} did not name the rows it updates; smf serve needs a row-sparse method");
                    var fresh = selected.Where(seen.Add).ToArray();
                    if (fresh.Length == 0) return;
                    using (torch.no_grad())
                        oldChunks.Add(values.index_select(0, torch.tensor(fresh)).clone().DetachFromDisposeScope());
                    order.AddRange(fresh);
                });
                if (step == 0) firstLoss = outcome.Loss;
                lastLoss = outcome.Loss;
            }
        }
        catch (TrainingDivergedException e)
        {
            RestoreLearner(order, oldChunks);
            throw new LearnDivergedException(
                $"learn refused: training diverged ({e.Problem}); the rows are restored and nothing was journaled or served. " +
                $"Likely cause: the learning rate (--lr {Lr:G4}) is too high for this model; restart the server with a lower --lr", e);
        }
        catch
        {
            // Put back whatever the failed learn changed: nothing of it was acknowledged.
            RestoreLearner(order, oldChunks);
            throw;
        }
        finally { model.eval(); }

        using var outer = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var allRows = torch.tensor(order.ToArray());
        var old = oldChunks.Count == 0 ? torch.zeros(0, values.shape[1]) : torch.cat(oldChunks, 0);
        foreach (var c in oldChunks) c.Dispose();
        var @new = values.index_select(0, allRows);
        var changedMask = @new.ne(old).any(1);                          // rows selected but left equal (zero gradient) are not changes
        var keep = changedMask.nonzero().squeeze(1);
        var rows = allRows.index_select(0, keep);
        var oldKept = old.index_select(0, keep);
        var newKept = @new.index_select(0, keep);
        long[] rowIds = rows.data<long>().ToArray();
        var entry = new JournalEntry(_seq + 1, Journal.LearnType, id, DateTime.UtcNow, request.Text, request.Question, request.Answer,
            rowIds, firstLoss, [], request.Document);
        try
        {
            _journal.AppendLearn(entry, oldKept, newKept);
        }
        catch
        {
            using (torch.no_grad()) values.index_copy_(0, rows, oldKept);   // not durable → not applied
            throw;
        }
        _seq = entry.Seq;
        _nextId = id + 1;
        WriteServer(rows, newKept);
        lock (_indexLock) _learns[id] = new LearnInfo(id, entry.Time, request.Text, request.Question, request.Answer, rowIds, firstLoss, false, null, request.Document);
        return new LearnResult(id, rowIds, firstLoss, lastLoss, plan.Paraphrases, clock.Elapsed.TotalMilliseconds, plan.Chunks, plan.Steps);
    }

    void RestoreLearner(List<long> order, List<Tensor> oldChunks)
    {
        if (order.Count > 0)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            _learner.Model.MemoryValues!.index_copy_(0, torch.tensor(order.ToArray()), torch.cat(oldChunks, 0));
        }
        foreach (var c in oldChunks) c.Dispose();
    }

    UndoResult Undo(long id, bool cascade)
    {
        LearnInfo target;
        List<LearnInfo> set;
        lock (_indexLock)
        {
            if (!_learns.TryGetValue(id, out target!)) throw new LearnNotFoundException(id);
            if (target.Undone) throw new UndoConflictException($"learn {id} is already undone", []);
            // The learns that must go first: every later, active learn that changed a row of the target or of one of
            // them (one pass in id order suffices, since each candidate is compared with older members only).
            set = [target];
            var rows = new HashSet<long>(target.Rows);
            foreach (var l in _learns.Values.Where(l => l.Id > id && !l.Undone))
            {
                if (!l.Rows.Any(rows.Contains)) continue;
                set.Add(l);
                rows.UnionWith(l.Rows);
            }
        }
        long[] later = set.Skip(1).Select(l => l.Id).ToArray();
        if (later.Length > 0 && !cascade)
            throw new UndoConflictException(
                $"later learn{(later.Length > 1 ? "s" : "")} {string.Join(", ", later)} changed rows of learn {id}; undo {(later.Length > 1 ? "them" : "it")} first, or pass ?cascade=true to undo {(later.Length > 1 ? "them" : "it")} too (newest first)",
                later);
        long[] undone = set.Select(l => l.Id).OrderDescending().ToArray();
        var entry = new JournalEntry(_seq + 1, Journal.UndoType, 0, DateTime.UtcNow, "", null, null, [], double.NaN, undone);
        _journal.AppendUndo(entry);
        _seq = entry.Seq;
        int written = 0;
        foreach (long u in undone)
        {
            ApplyValues(u, useNew: false);
            lock (_indexLock)
            {
                _learns[u] = _learns[u] with { Undone = true, UndoneAt = entry.Time };
                written += _learns[u].Rows.Length;
            }
        }
        return new UndoResult(undone, written);
    }

    /// <summary>Background checkpoint and forgetting check after a change; true when the check ran.</summary>
    bool AfterChange(bool learned)
    {
        if (_options.CheckpointEvery > 0 && ++_sinceCheckpoint >= _options.CheckpointEvery && _checkpointTask.IsCompleted)
        {
            _sinceCheckpoint = 0;
            var table = CopyTable();      // torch work stays here; the write below touches managed memory and files only
            long seq = _seq;
            _checkpointTask = Task.Run(() =>
            {
                try { WriteCheckpoint(table, seq); }
                catch (Exception e) { _log($"service checkpoint at line {seq} failed: {e.Message}"); }
            });
        }
        if (learned && _options.CheckEvery > 0 && ++_learnsSinceCheck >= _options.CheckEvery)
        {
            _learnsSinceCheck = 0;
            _latest = RunCheck();
            lock (_indexLock) _latestAfterLearns = _learns.Values.Count(l => !l.Undone);
            RecordCheck(_latestAfterLearns, _latest);
            return true;
        }
        return false;
    }

    /// <summary>Why the latest check exceeds the drift guard, or null (guard off, or within it).</summary>
    string? DriftTooLarge()
    {
        if (_options.MaxDrift <= 0 || _baseline is null || _latest is null) return null;
        var d = Drift(_baseline, _latest);
        if (d.TryGetValue("known-facts-f1/f1", out double f1) && -f1 > _options.MaxDrift)
            return $"known-facts F1 fell by {-f1:G4} since start";
        if (d.TryGetValue("heldout-nll/nll_per_token", out double nll) && nll > _options.MaxDrift)
            return $"held-out NLL rose by {nll:G4} nats/token since start";
        return null;
    }

    Tensor CloneTable()
    {
        using (torch.no_grad()) return _learner.Model.MemoryValues!.detach().clone().DetachFromDisposeScope();
    }

    /// <summary>The learner's value table as a managed copy (shape, float32 values), taken on the torch thread.</summary>
    (long[] Shape, float[] Data) CopyTable()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var t = _learner.Model.MemoryValues!.detach().to(ScalarType.Float32).cpu().contiguous();
        return (t.shape, t.data<float>().ToArray());
    }

    /// <summary>Writes a copy of the value table as the service checkpoint at journal line <paramref name="seq"/> (no torch: any thread).</summary>
    void WriteCheckpoint((long[] Shape, float[] Data) table, long seq)
    {
        SafeTensors.SaveFloat32(Path.Combine(_stateDir, CheckpointFile), ValueName, table.Shape, table.Data, new Dictionary<string, string>
        {
            ["journal_seq"] = seq.ToString(CultureInfo.InvariantCulture), ["model_fingerprint"] = _fingerprint,
        });
        Interlocked.Exchange(ref _checkpointSeq, seq);
    }

    // ------------------------------------------------------------------ readers

    /// <summary>Continues <paramref name="prompt"/> on the served model (on the torch thread, after the work queued before it).</summary>
    public Task<string> GenerateAsync(string prompt, SamplingOptions sampling) =>
        Enqueue(() => TextGenerator.Generate(_server.Model, _server.Tokenizer, prompt, sampling), write: false);

    /// <summary><see cref="GenerateAsync"/>, waited for (not from the torch thread's own work).</summary>
    public string Generate(string prompt, SamplingOptions sampling) => GenerateAsync(prompt, sampling).GetAwaiter().GetResult();

    /// <summary>Tokens of <paramref name="text"/> (for completion accounting).</summary>
    public int CountTokens(string text) => _server.Tokenizer.Encode(text).Length;

    /// <summary>The token ids the model reads for <paramref name="text"/> (the end-of-text token for an empty text, as the generator does).</summary>
    public int[] Encode(string text) => _server.Tokenizer.Encode(text) is { Length: > 0 } ids ? ids : [_server.Tokenizer.EosId];

    /// <summary>
    /// How a chat becomes the served model's prompt: its chat template, the plain transcript when it has none, or
    /// unsupported (<see cref="ChatPrompt"/>; docs/serve.md#chat-completions).
    /// </summary>
    public ChatPrompt Chat { get; private set; } = null!;

    /// <summary>
    /// The prompt of <paramref name="messages"/> and the ids the model reads for it (<see cref="ChatPrompt"/>; no torch,
    /// any thread). Throws <see cref="ChatTemplateRaisedException"/> when the template refuses the conversation and
    /// <see cref="ChatTemplateException"/> when the template cannot be used or fails.
    /// </summary>
    public (string Prompt, int[] Ids) ChatPromptOf(IReadOnlyList<ChatMessage> messages)
    {
        string prompt = Chat.Render(messages);
        return (prompt, Chat.Encode(prompt));
    }

    /// <summary>The served model's context (model.max_seq_len): the most tokens it reads at once.</summary>
    public int ContextLength => _server.Model.Config.MaxSeqLen;

    /// <summary>
    /// Continues <paramref name="promptIds"/> on the torch thread, stopping at an end-of-text token (any of the
    /// tokenizer's <see cref="ITokenizer.EosIds"/>), after
    /// <see cref="SamplingOptions.MaxTokens"/> tokens, or once the text holds one of <paramref name="stops"/> (the text
    /// is then cut before it). Accounting comes from the generated ids, never from re-tokenizing the text. With
    /// <paramref name="onText"/>, each piece of text that can no longer change (not part of a possible stop sequence, no
    /// incomplete UTF-8 character at its end) is handed over as soon as it is generated (server-sent events); the pieces
    /// concatenate to the completion's text. With <paramref name="logprobs"/> (k ≥ 0) the completion carries each
    /// generated token's log-probability and the k most likely tokens at its position, taken from the very logits the
    /// sampler picked from (<see cref="Completion.Logprobs"/>); with <paramref name="echoLogprobs"/> too, those of the
    /// prompt's tokens (one forward pass over the prompt; <see cref="Completion.PromptLogprobs"/>).
    /// </summary>
    public Task<Completion> CompleteAsync(int[] promptIds, SamplingOptions sampling, IReadOnlyList<string> stops, Action<string>? onText = null,
        int? logprobs = null, bool echoLogprobs = false) =>
        Enqueue(() => Complete(promptIds, sampling, stops, onText, logprobs, echoLogprobs), write: false);

    /// <summary><see cref="CompleteAsync"/>, waited for.</summary>
    public Completion Complete(int[] promptIds, SamplingOptions sampling, IReadOnlyList<string> stops, int? logprobs = null, bool echoLogprobs = false) =>
        OnTorchThread ? Complete(promptIds, sampling, stops, null, logprobs, echoLogprobs)
            : CompleteAsync(promptIds, sampling, stops, null, logprobs, echoLogprobs).GetAwaiter().GetResult();

    Completion Complete(int[] promptIds, SamplingOptions sampling, IReadOnlyList<string> stops, Action<string>? onText, int? logprobs, bool echoLogprobs)
    {
        var tok = _server.Tokenizer;
        var seen = new List<int>();
        int sent = 0;
        bool watch = stops.Count > 0 || onText is not null;
        // Logprobs: each step's log-probabilities (the logits the sampler reads, as it scales them) are kept until the
        // token picked from them is known, then the picked token's value and the step's top k are recorded.
        float[]? step = null;
        (int[] Ids, float[] Values) stepTop = ([], []);
        var chosen = new List<float>();
        var tops = new List<(int[] Ids, float[] Values)>();
        Action<IReadOnlyList<int>, Tensor>? observe = logprobs is not int k ? null : (_, logits) =>
        {
            using var lp = LogProbs(logits, sampling.Temperature);
            step = lp.select(0, 0).cpu().data<float>().ToArray();
            stepTop = TopK(lp, k)[0];
        };
        Func<int, bool>? stopAfter = !watch && logprobs is null ? null : id =>
        {
            if (logprobs is not null)
            {
                chosen.Add(step![id]);
                tops.Add(stepTop);
            }
            if (!watch) return false;
            seen.Add(id);
            string text = tok.Decode(seen.ToArray());
            int at = stops.Count == 0 ? -1 : FirstStop(text, stops);
            if (onText is not null)
            {
                int safe = at >= 0 ? at : SafeEnd(text, stops);
                if (safe > sent) { onText(text[sent..safe]); sent = safe; }
            }
            return at >= 0;
        };
        int[] ids = TextGenerator.GenerateIds(_server.Model, [promptIds], sampling, sampling.StopAtEos ? tok.EosIds : null, stopAfter, 1, observe, tok.VocabSize)[0];
        string full = tok.Decode(ids);
        int cut = stops.Count == 0 ? -1 : FirstStop(full, stops);
        var result = cut >= 0 ? new Completion(full[..cut], ids.Length, "stop")
            : new Completion(full, ids.Length, ids.Length >= sampling.MaxTokens ? "length" : "stop");
        if (logprobs is not null)
        {
            if (chosen.Count != ids.Length) throw new InvalidOperationException($"logprobs: {chosen.Count} steps recorded for {ids.Length} tokens");
            var lp = Logprobs(ids, chosen.Select(v => (float?)v).ToArray(), tops.Select(t => ((int[], float[])?)t).ToArray());
            if (cut >= 0)
            {
                int keep = lp.TextOffset.Count(o => o < cut);
                lp = new CompletionLogprobs(lp.Tokens[..keep], lp.TokenLogprobs[..keep], lp.TopLogprobs[..keep], lp.TextOffset[..keep]);
            }
            result = result with { Logprobs = lp, PromptLogprobs = echoLogprobs ? PromptLogprobs(promptIds, logprobs.Value, sampling.Temperature) : null };
        }
        if (onText is not null && result.Text.Length > sent) onText(result.Text[sent..]);
        return result;
    }

    /// <summary>
    /// Log-probabilities of the next token, float32, per row: log_softmax(logits / temperature), or of the logits
    /// themselves when greedy (temperature 0), as <see cref="TextGenerator"/>'s sampler scales them.
    /// </summary>
    static Tensor LogProbs(Tensor logits, double temperature)
    {
        using var scope = torch.NewDisposeScope();
        var x = logits.to(ScalarType.Float32);
        if (temperature > 0) x = x / temperature;
        return torch.nn.functional.log_softmax(x, -1).MoveToOuterDisposeScope();
    }

    /// <summary>The <paramref name="k"/> largest values of each row of <paramref name="lp"/> [rows, V] with their ids, largest first.</summary>
    static (int[] Ids, float[] Values)[] TopK(Tensor lp, int k)
    {
        int rows = (int)lp.shape[0];
        if (k == 0) return Enumerable.Repeat((Array.Empty<int>(), Array.Empty<float>()), rows).ToArray();
        using var scope = torch.NewDisposeScope();
        var (values, idx) = lp.topk(Math.Min(k, (int)lp.shape[1]), -1, largest: true, sorted: true);
        var v = values.cpu().data<float>().ToArray();
        var i = idx.cpu().data<long>().ToArray();
        int kk = (int)values.shape[1];
        return Enumerable.Range(0, rows).Select(r => (i.Skip(r * kk).Take(kk).Select(x => (int)x).ToArray(), v.Skip(r * kk).Take(kk).ToArray())).ToArray();
    }

    /// <summary>
    /// The logprobs of <paramref name="ids"/> in OpenAI's shape: each token decoded alone, its log-probability (null
    /// where there is none, or where it is not finite), its position's top tokens as a map (a token string that two ids
    /// decode to keeps the more likely one), and its start in the decoded text: the length of the text of the tokens
    /// before it, less a trailing U+FFFD of an incomplete UTF-8 character (a token that ends inside a character starts
    /// where that character does).
    /// </summary>
    CompletionLogprobs Logprobs(int[] ids, float?[] chosen, (int[] Ids, float[] Values)?[] tops)
    {
        var tok = _server.Tokenizer;
        var tokens = new string[ids.Length];
        var offsets = new int[ids.Length];
        var topMaps = new Dictionary<string, double>?[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            tokens[i] = tok.Decode([ids[i]]);
            offsets[i] = i == 0 ? 0 : tok.Decode(ids[..i]).TrimEnd('\uFFFD').Length;
            if (tops[i] is not { } t) continue;
            var map = new Dictionary<string, double>();
            for (int j = 0; j < t.Ids.Length; j++)
                if (float.IsFinite(t.Values[j])) map.TryAdd(tok.Decode([t.Ids[j]]), t.Values[j]);
            topMaps[i] = map;
        }
        var values = chosen.Select(v => v is float f && float.IsFinite(f) ? (double?)f : null).ToArray();
        return new CompletionLogprobs(tokens, values, topMaps, offsets);
    }

    /// <summary>
    /// The prompt tokens' logprobs: one forward pass over the prompt, each token scored by the log-probabilities at the
    /// position before it (scaled by <paramref name="temperature"/> as generation scales them); the first token has none.
    /// </summary>
    CompletionLogprobs PromptLogprobs(int[] promptIds, int k, double temperature)
    {
        var model = _server.Model;
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var device = model.parameters().First().device;
            int n = promptIds.Length;
            var chosen = new float?[n];
            var tops = new (int[] Ids, float[] Values)?[n];
            if (n > 1)
            {
                var input = torch.tensor(promptIds.Select(x => (long)x).ToArray(), [1, n], device: device);
                var lp = LogProbs(model.forward(input).select(0, 0).narrow(0, 0, n - 1), temperature);   // [n-1, V]: position i predicts token i+1
                var next = torch.tensor(promptIds.Skip(1).Select(x => (long)x).ToArray(), [n - 1, 1], device: device);
                var picked = lp.gather(-1, next).cpu().data<float>().ToArray();
                var top = TopK(lp, k);
                for (int i = 1; i < n; i++) { chosen[i] = picked[i - 1]; tops[i] = top[i - 1]; }
            }
            return Logprobs(promptIds, chosen, tops);
        }
        finally { model.train(wasTraining); }
    }

    /// <summary>
    /// How much of <paramref name="text"/> can be sent before generation ends: all of it, less an end that may still
    /// become a stop sequence (a proper prefix of one) or a replacement character from an incomplete UTF-8 sequence.
    /// </summary>
    static int SafeEnd(string text, IReadOnlyList<string> stops)
    {
        int end = text.Length;
        while (end > 0 && text[end - 1] == '\uFFFD') end--;
        int hold = 0;
        foreach (string s in stops)
            for (int k = Math.Min(s.Length - 1, end); k > hold; k--)
                if (string.CompareOrdinal(text, end - k, s, 0, k) == 0) { hold = k; break; }
        return end - hold;
    }

    /// <summary>Where the earliest of <paramref name="stops"/> begins in <paramref name="text"/>, or -1.</summary>
    static int FirstStop(string text, IReadOnlyList<string> stops)
    {
        int first = -1;
        foreach (string s in stops)
            if (text.IndexOf(s, StringComparison.Ordinal) is int i and >= 0 && (first < 0 || i < first)) first = i;
        return first;
    }

    /// <summary>NLL (nats, summed over tokens) of <paramref name="continuation"/> after <paramref name="context"/> on the served model.</summary>
    public double Nll(string context, string continuation) =>
        Enqueue(() => LogLikelihood.ScoreContinuations(_server.Model, _server.Tokenizer, [(context, continuation)], 1)[0].Nll, write: false)
            .GetAwaiter().GetResult();

    /// <summary>A copy of the served value table (consistent: taken on the torch thread between work items).</summary>
    public Tensor SnapshotValues() =>
        Enqueue(() => { using (torch.no_grad()) return _server.Model.MemoryValues!.detach().clone().DetachFromDisposeScope(); }, write: false)
            .GetAwaiter().GetResult();

    /// <summary>A copy of the learner's value table, taken on the torch thread (tests: both copies must agree).</summary>
    public Tensor SnapshotLearnerValues() => Enqueue(CloneTable, write: false).GetAwaiter().GetResult();

    /// <summary>Every learn in id order.</summary>
    public IReadOnlyList<LearnInfo> Learned()
    {
        lock (_indexLock) return _learns.Values.ToList();
    }

    /// <summary>Counters and the forgetting check for <c>GET /stats</c> (no tensor is touched: any thread).</summary>
    public StatsResponse Stats()
    {
        int active, total, distinct;
        lock (_indexLock)
        {
            var live = _learns.Values.Where(l => !l.Undone).ToList();
            active = live.Count;
            total = _learns.Count;
            distinct = live.SelectMany(l => l.Rows).Distinct().Count();
        }
        var baseline = _baseline;
        var latest = _latest;
        ForgettingCheckStats check;
        if (baseline is not null && latest is not null)
        {
            CheckRecord[] history;
            lock (_checks)
                history = _checks.Select(c => new CheckRecord(c.Learns, c.Time, ToJson(c.Values), ToJson(Drift(baseline, c.Values)))).ToArray();
            check = new ForgettingCheckStats(_options.CheckEvery > 0, _options.CheckEvery, _options.CheckLimit, ToJson(baseline), ToJson(latest),
                _latestAfterLearns, ToJson(Drift(baseline, latest)), history);
        }
        else check = new ForgettingCheckStats(_options.CheckEvery > 0, _options.CheckEvery, _options.CheckLimit, null, null, null, null, null);
        return new StatsResponse(active, total, total - active, distinct, _valueRows, Interlocked.Read(ref _seq), Interlocked.Read(ref _checkpointSeq),
            QueueLength, Lr, _options.TopT, _options.StepsPerLearn, check);
    }

    void RecordCheck(int learns, IReadOnlyDictionary<string, double> values)
    {
        lock (_checks) _checks.Add((learns, DateTime.UtcNow, values));
    }

    static Dictionary<string, double> Drift(IReadOnlyDictionary<string, double> baseline, IReadOnlyDictionary<string, double> values) =>
        values.Where(kv => baseline.ContainsKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value - baseline[kv.Key]);

    static Dictionary<string, double?> ToJson(IReadOnlyDictionary<string, double> m) =>
        m.ToDictionary(kv => kv.Key, kv => double.IsFinite(kv.Value) ? kv.Value : (double?)null);

    /// <summary>known-facts-f1 and heldout-nll on a fixed subset of the served model (a skipped probe is left out).</summary>
    IReadOnlyDictionary<string, double> RunCheck()
    {
        var m = new Dictionary<string, double>();
        var probeOptions = new ProbeOptions { Limit = _options.CheckLimit, Seed = _options.Seed };
        {
            foreach (string name in new[] { "known-facts-f1", "heldout-nll" })
            {
                var probe = EvalProbes.Registry.Get(name, "forgetting check");
                ProbeResult r;
                try { r = EvalProbes.Run(probe, _server, probeOptions); }
                catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or InvalidOperationException)
                {
                    _log($"forgetting check: {name} failed: {e.Message}");
                    continue;
                }
                if (r.Skipped is not null) { _log($"forgetting check: {name} skipped: {r.Skipped}"); continue; }
                m[$"{r.Probe}/{r.Metric}"] = r.Value;
            }
        }
        return m;
    }

    /// <summary>Runs the queued work, then on the torch thread waits for a checkpoint in flight, writes a final one and frees the models; closes the journal.</summary>
    public void Dispose() => Stop(finalCheckpoint: true);

    /// <summary>Simulates a crash for tests: stops the torch thread and closes files without a final checkpoint.</summary>
    internal void Abandon() => Stop(finalCheckpoint: false);

    void Stop(bool finalCheckpoint)
    {
        if (_disposed) return;
        _disposed = true;
        _final = () =>
        {
            try { _checkpointTask.Wait(); } catch (AggregateException) { }
            if (finalCheckpoint && _seq > Interlocked.Read(ref _checkpointSeq))
            {
                try { WriteCheckpoint(CopyTable(), _seq); }
                catch (IOException e) { _log($"final service checkpoint failed: {e.Message}"); }
            }
            _journal.Dispose();
            (_method as IDisposable)?.Dispose();
            _learner.Model.Dispose();
            _server.Model.Dispose();
        };
        _queue.CompleteAdding();
        _torch.Join();
    }
}

/// <summary>
/// The torch thread's queue: reads (asks, completions) and writes (learns, undos), each in arrival order. Reads go
/// first, so an ask waits for the work item in progress and other asks rather than for every learn queued before it,
/// but after <see cref="ReadsBeforeWrite"/> reads in a row a waiting write runs, so learns are never starved.
/// </summary>
sealed class TorchQueue
{
    /// <summary>Reads taken in a row while a write waits.</summary>
    public const int ReadsBeforeWrite = 4;

    readonly ConcurrentQueue<Action> _reads = new(), _writes = new();
    readonly SemaphoreSlim _items = new(0);
    readonly object _gate = new();
    bool _completed;
    int _readsInARow;

    /// <summary>Queues <paramref name="work"/>; <see cref="InvalidOperationException"/> after <see cref="CompleteAdding"/>.</summary>
    public void Add(bool write, Action work)
    {
        lock (_gate)
        {
            if (_completed) throw new InvalidOperationException("the queue is closed");
            (write ? _writes : _reads).Enqueue(work);
        }
        _items.Release();
    }

    /// <summary>No more work: <see cref="Consume"/> ends once the queued work is done.</summary>
    public void CompleteAdding()
    {
        lock (_gate)
        {
            if (_completed) return;
            _completed = true;
        }
        _items.Release();
    }

    /// <summary>The work items, blocking until one is queued; ends after <see cref="CompleteAdding"/> and the last item.</summary>
    public IEnumerable<Action> Consume()
    {
        while (true)
        {
            _items.Wait();
            if (Take() is { } work) { yield return work; continue; }
            lock (_gate)
                if (_completed && _reads.IsEmpty && _writes.IsEmpty) yield break;
        }
    }

    Action? Take()
    {
        bool writeDue = _readsInARow >= ReadsBeforeWrite;
        if (!writeDue && _reads.TryDequeue(out var read)) { _readsInARow++; return read; }
        if (_writes.TryDequeue(out var write)) { _readsInARow = 0; return write; }
        if (_reads.TryDequeue(out read)) { _readsInARow++; return read; }
        return null;
    }
}
