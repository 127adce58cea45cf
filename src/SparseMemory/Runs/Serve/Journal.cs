using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Runs.Serve;

/// <summary>One journal line: a learn (with its changed rows) or an undo (of one or more learns, newest first).</summary>
/// <param name="Seq">Line number, 1-based; service checkpoints record the last line they contain.</param>
/// <param name="Type"><see cref="Journal.LearnType"/> or <see cref="Journal.UndoType"/>.</param>
/// <param name="Id">The learn's id (learn lines); 0 for undo lines.</param>
/// <param name="Time">When it was applied (UTC).</param>
/// <param name="Text">The learn's text.</param>
/// <param name="Question">The learn's question, if given.</param>
/// <param name="Answer">The learn's answer, if given.</param>
/// <param name="Rows">Value rows the learn changed (learn lines).</param>
/// <param name="Loss">Loss of the learn's first step.</param>
/// <param name="Undone">The learns an undo line restored, in the order they were restored (newest first).</param>
public sealed record JournalEntry(long Seq, string Type, long Id, DateTime Time, string Text, string? Question, string? Answer,
    long[] Rows, double Loss, long[] Undone, bool Document = false);

/// <summary>
/// The write-ahead journal of <c>smf serve</c> (docs/serve.md#durability): <c>journal.jsonl</c>, one line per learn or
/// undo, appended and fsynced before the change is acknowledged. A learn's old and new row values live in a side file
/// <c>learns/ID.safetensors</c> (rows I64 [n], old and new F32 [n, Dv]) written atomically before its line.
/// A crash can leave a torn last line (never acknowledged): <see cref="Open"/> drops it. A side file without a line
/// (crash between the two writes) is ignored and overwritten by the next learn with that id.
/// </summary>
public sealed class Journal : IDisposable
{
    /// <summary>Journal file name in the state folder.</summary>
    public const string FileName = "journal.jsonl";
    /// <summary>Folder of the per-learn value files.</summary>
    public const string LearnsFolder = "learns";
    /// <summary>Type of a learn line.</summary>
    public const string LearnType = "learn";
    /// <summary>Type of an undo line.</summary>
    public const string UndoType = "undo";

    readonly string _dir;
    readonly JsonlWriter _writer;

    /// <summary>Lines read at open (after dropping a torn tail).</summary>
    public IReadOnlyList<JournalEntry> Entries { get; }

    /// <summary>True when <see cref="Open"/> dropped a torn last line.</summary>
    public bool DroppedTornLine { get; }

    Journal(string dir, List<JournalEntry> entries, bool dropped)
    {
        _dir = dir;
        Entries = entries;
        DroppedTornLine = dropped;
        Directory.CreateDirectory(Path.Combine(dir, LearnsFolder));
        string path = Path.Combine(dir, FileName);
        bool created = !File.Exists(path);
        _writer = new JsonlWriter(path);
        if (created) { AtomicFile.SyncDirectory(dir); }
    }

    /// <summary>Reads the journal of <paramref name="stateDir"/> (dropping a torn last line) and opens it for appending.</summary>
    public static Journal Open(string stateDir)
    {
        Directory.CreateDirectory(stateDir);
        AtomicFile.DeleteLeftovers(stateDir);
        AtomicFile.DeleteLeftovers(Path.Combine(stateDir, LearnsFolder));
        string path = Path.Combine(stateDir, FileName);
        var entries = new List<JournalEntry>();
        bool dropped = false;
        if (File.Exists(path))
        {
            string all = File.ReadAllText(path);
            var lines = all.Split('\n');
            // The last element is "" when the file ends with a newline; anything else there is a torn write.
            int complete = lines.Length - 1;
            for (int i = 0; i < complete; i++)
            {
                if (lines[i].Length == 0) continue;
                entries.Add(Parse(lines[i], path, i + 1));
            }
            if (lines[^1].Length > 0)
            {
                dropped = true;
                AtomicFile.WriteAllText(path, string.Concat(lines.Take(complete).Where(l => l.Length > 0).Select(l => l + "\n")));
            }
            for (int i = 0; i < entries.Count; i++)
                if (entries[i].Seq != i + 1) throw new InvalidDataException($"{path}: line {i + 1} has seq {entries[i].Seq}; the journal is out of order");
        }
        return new Journal(stateDir, entries, dropped);
    }

    static JournalEntry Parse(string line, string path, int lineNo)
    {
        try
        {
            var o = JsonNode.Parse(line)!.AsObject();
            return new JournalEntry(
                o["seq"]!.GetValue<long>(),
                o["type"]!.GetValue<string>(),
                o["id"]?.GetValue<long>() ?? 0,
                DateTime.Parse(o["time"]!.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                o["text"]?.GetValue<string>() ?? "",
                o["question"]?.GetValue<string>(),
                o["answer"]?.GetValue<string>(),
                Ids(o["rows"]?.GetValue<string>()),
                o["loss"]?.GetValue<double>() ?? double.NaN,
                Ids(o["undone"]?.GetValue<string>()),
                o["document"]?.GetValue<bool>() ?? false);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            throw new InvalidDataException($"{path}: line {lineNo} is not a valid journal entry ({e.Message}); the journal is corrupt");
        }
    }

    static long[] Ids(string? s) => string.IsNullOrEmpty(s) ? [] : s.Split(',').Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToArray();

    static string IdList(IEnumerable<long> ids) => string.Join(",", ids.Select(i => i.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Path of learn <paramref name="id"/>'s value file.</summary>
    public string ValuesPath(long id) => Path.Combine(_dir, LearnsFolder, $"{id:D8}.safetensors");

    /// <summary>
    /// Makes a learn durable: its value file (atomic), then its line, then fsync. Returns only when both are on disk.
    /// <paramref name="oldValues"/> and <paramref name="newValues"/> are [rows, Dv] float32.
    /// </summary>
    public void AppendLearn(JournalEntry e, Tensor oldValues, Tensor newValues)
    {
        using (var rows = torch.tensor(e.Rows))
            SafeTensors.Save(ValuesPath(e.Id), [("rows", rows), ("old", oldValues), ("new", newValues)],
                new Dictionary<string, string> { ["id"] = e.Id.ToString(CultureInfo.InvariantCulture) });
        Append(e);
    }

    /// <summary>Makes an undo durable (line, then fsync).</summary>
    public void AppendUndo(JournalEntry e) => Append(e);

    void Append(JournalEntry e)
    {
        var row = new Dictionary<string, object?>
        {
            ["seq"] = e.Seq, ["type"] = e.Type, ["id"] = e.Id, ["time"] = e.Time.ToString("O", CultureInfo.InvariantCulture),
            ["text"] = e.Text, ["question"] = e.Question, ["answer"] = e.Answer, ["rows"] = IdList(e.Rows),
            ["loss"] = e.Loss, ["undone"] = IdList(e.Undone),
        };
        if (e.Document) row["document"] = true;           // a document learn (absent for facts, as in journals before documents)
        _writer.Write(row);
        _writer.Sync();
    }

    /// <summary>Rows, old and new values of learn <paramref name="id"/> (the caller disposes the tensors).</summary>
    public (Tensor Rows, Tensor Old, Tensor New) ReadValues(long id)
    {
        string path = ValuesPath(id);
        if (!File.Exists(path)) throw new InvalidDataException($"{path}: the values of learn {id} are missing; the state folder is incomplete");
        var (t, _) = SafeTensors.Load(path);
        if (!t.TryGetValue("rows", out var rows) || !t.TryGetValue("old", out var old) || !t.TryGetValue("new", out var @new))
        {
            foreach (var x in t.Values) x.Dispose();
            throw new InvalidDataException($"{path}: expected tensors rows, old and new");
        }
        return (rows, old, @new);
    }

    /// <inheritdoc/>
    public void Dispose() => _writer.Dispose();
}
