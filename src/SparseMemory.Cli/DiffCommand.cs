using SparseMemory.Reporting;
using System.CommandLine;
using System.Globalization;
using SparseMemory.Checkpoints;

namespace SparseMemory.Cli;

/// <summary><c>smf diff DIR_A DIR_B [--json] [--all]</c>: which tensors, rows and memory slots changed between two checkpoints.</summary>
public static class DiffCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var dirA = new Argument<string>("DIR_A") { Description = "First checkpoint folder (e.g. before finetuning)" };
        var dirB = new Argument<string>("DIR_B") { Description = "Second checkpoint folder (e.g. after finetuning)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var all = new Option<bool>("--all") { Description = "List unchanged tensors too" };
        var cmd = new Command("diff", "Compare two checkpoints bitwise: changed elements, rows and memory slots per tensor")
        {
            dirA, dirB, json, all,
        };
        cmd.SetAction(pr =>
        {
            var result = CheckpointDiff.Compare(pr.GetValue(dirA)!, pr.GetValue(dirB)!);
            if (pr.GetValue(json)) Console.WriteLine(result.ToJson(pr.GetValue(all)));
            else WriteTable(result, pr.GetValue(all));
            return 0;
        });
        return cmd;
    }

    static void WriteTable(CheckpointDiffResult r, bool all)
    {
        var rows = (all ? r.Tensors : r.Differing).ToList();
        if (rows.Count > 0)
        {
            var table = new Table(null, new TableColumn("tensor"), new TableColumn("status"), new TableColumn("shape"),
                new TableColumn("changed", ColumnAlign.Right), new TableColumn("rows", ColumnAlign.Right), new TableColumn("max |Δ|", ColumnAlign.Right),
                new TableColumn("non-finite rows", ColumnAlign.Right));
            foreach (var t in rows)
            {
                string shape = "[" + string.Join(",", t.Shape) + "]" + (t.ShapeB is null ? "" : "→[" + string.Join(",", t.ShapeB) + "]");
                table.AddRow(t.Name, CheckpointDiffResult.StatusName(t.Status), shape, t.ChangedElements, t.ChangedRows, TableCell.Of(t.MaxAbsDelta, "G4"), t.NonFiniteRows);
            }
            Console.Write(table.ToText());
        }
        string slots = r.ChangedSlots == 0 ? "" :
            " (" + string.Join(", ", r.ChangedSlotIds.Take(20)) + (r.ChangedSlots > 20 ? ", …" : "") + ")";
        Console.WriteLine($"{r.Differing.Count()} tensors differ, {r.UnchangedTensors} unchanged; {r.ChangedSlots} memory slots changed{slots}");
        if (r.NonFiniteRows > 0)
            Console.WriteLine($"warning: {r.NonFiniteRows} changed rows hold NaN or ±infinity in {r.B} (" +
                              string.Join(", ", r.Tensors.Where(t => t.NonFiniteRows > 0).Select(t => $"{t.Name}: {t.NonFiniteRows}")) + "); their max |Δ| is NaN");
    }
}
