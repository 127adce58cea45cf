using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Cli;
using SparseMemory.Model;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Checkpoints;

public sealed class DiffTests
{
    static LanguageModel TinyModel()
    {
        torch.manual_seed(21);
        return new LanguageModel(Fixtures.TinyConfig("unused").Model);
    }

    /// <summary>Saves a tiny model to A, then changes rows {3, 7} of the value table and one element of norm.weight and saves to B.</summary>
    static (string A, string B) TwoCheckpoints()
    {
        string root = Fixtures.TempDir("diff");
        string a = Path.Combine(root, "a"), b = Path.Combine(root, "b");
        Directory.CreateDirectory(a); Directory.CreateDirectory(b);
        var model = TinyModel();
        Checkpoint.SaveWeights(a, model);
        using (torch.no_grad())
        {
            var values = model.MemoryValues!;
            values[3].add_(0.5);
            values[7, 1].add_(-0.25);
            var norm = model.named_parameters().Single(p => p.name == "norm.weight").parameter;
            norm[5].add_(1.0);
        }
        Checkpoint.SaveWeights(b, model);
        return (a, b);
    }


    [Fact]
    public void Reports_exactly_the_modified_rows_and_element()
    {
        var (a, b) = TwoCheckpoints();
        var r = CheckpointDiff.Compare(a, b);
        var changed = r.Differing.ToList();
        Assert.Equal(["memory_values.weight", "norm.weight"], changed.Select(t => t.Name));

        var values = changed[0];
        Assert.Equal(TensorDiffStatus.Changed, values.Status);
        Assert.Equal(2, values.ChangedRows);
        Assert.Equal(values.Shape[1] + 1, values.ChangedElements);
        Assert.Equal(0.5, values.MaxAbsDelta, 5);
        Assert.Equal([3L, 7L], r.ChangedSlotIds);
        Assert.Equal(2, r.ChangedSlots);

        var norm = changed[1];
        Assert.Equal(1, norm.ChangedElements);
        Assert.Equal(1, norm.ChangedRows);
        Assert.Equal(1.0, norm.MaxAbsDelta, 5);
        Assert.Equal(r.Tensors.Count - 2, r.UnchangedTensors);
    }

    [Fact]
    public void Identical_checkpoints_have_no_changes()
    {
        var (a, _) = TwoCheckpoints();
        var r = CheckpointDiff.Compare(a, a);
        Assert.Empty(r.Differing);
        Assert.Equal(0, r.ChangedSlots);
        Assert.Equal(r.Tensors.Count, r.UnchangedTensors);
    }

    [Fact]
    public void Differences_are_bitwise_and_missing_tensors_are_reported()
    {
        var a = new Dictionary<string, Tensor>
        {
            ["z"] = torch.tensor(new[] { 0.0f, 1.0f, float.NaN }),
            ["gone"] = torch.zeros(2, 3),
            ["reshaped"] = torch.zeros(4),
        };
        var b = new Dictionary<string, Tensor>
        {
            ["z"] = torch.tensor(new[] { -0.0f, 1.0f, float.NaN }),
            ["new"] = torch.ones(5, 2),
            ["reshaped"] = torch.zeros(2, 2),
        };
        var r = CheckpointDiff.Compare("a", a, "b", b).Tensors.ToDictionary(t => t.Name);
        Assert.Equal(TensorDiffStatus.Changed, r["z"].Status);
        Assert.Equal(1, r["z"].ChangedElements);                   // −0.0 vs 0.0 differs; identical NaNs do not
        Assert.Equal(0, r["z"].MaxAbsDelta);
        Assert.Equal(TensorDiffStatus.Removed, r["gone"].Status);
        Assert.Equal(2, r["gone"].ChangedRows);
        Assert.Equal(TensorDiffStatus.Added, r["new"].Status);
        Assert.Equal(10, r["new"].ChangedElements);
        Assert.Equal(TensorDiffStatus.ShapeMismatch, r["reshaped"].Status);
        Assert.Equal([2L, 2L], r["reshaped"].ShapeB!);
    }

    [Fact]
    public void Cli_json_parses_and_has_the_fields()
    {
        var (a, b) = TwoCheckpoints();
        var (code, output, err) = Smf.Run("diff", a, b, "--json");
        Assert.True(code == 0, err);
        var o = JsonNode.Parse(output)!.AsObject();
        Assert.Equal(a, o["a"]!.GetValue<string>());
        Assert.Equal(b, o["b"]!.GetValue<string>());
        var tensors = o["tensors"]!.AsArray();
        Assert.Equal(2, tensors.Count);
        foreach (string f in new[] { "name", "changed_elements", "changed_rows", "max_abs_delta", "shape" })
            Assert.NotNull(tensors[0]![f]);
        Assert.Equal(2, o["changed_slots"]!.GetValue<int>());
        Assert.Equal([3L, 7L], o["changed_slot_ids"]!.AsArray().Select(x => x!.GetValue<long>()));
        int unchanged = o["unchanged_tensors"]!.GetValue<int>();

        var (code2, all, _) = Smf.Run("diff", a, b, "--json", "--all");
        Assert.Equal(0, code2);
        Assert.Equal(unchanged + 2, JsonNode.Parse(all)!["tensors"]!.AsArray().Count);

        var (code3, table, _) = Smf.Run("diff", a, b);
        Assert.Equal(0, code3);
        Assert.Contains("memory_values.weight", table);
        Assert.Contains("2 memory slots changed (3, 7)", table);
    }

    [Fact]
    public void Missing_folder_or_truncated_file_is_a_one_line_error()
    {
        var (a, b) = TwoCheckpoints();
        var (code, _, err) = Smf.Run("diff", a, Path.Combine(b, "nope"));
        Assert.Equal(2, code);
        Assert.Contains("nope", err);

        File.Delete(Path.Combine(b, Checkpoint.ModelFile));
        (code, _, err) = Smf.Run("diff", a, b);
        Assert.Equal(2, code);
        Assert.Contains(Path.Combine(b, Checkpoint.ModelFile), err);

        string weights = Path.Combine(a, Checkpoint.ModelFile);
        File.WriteAllBytes(weights, File.ReadAllBytes(weights)[..100]);
        (code, _, err) = Smf.Run("diff", a, a, "--json");
        Assert.Equal(2, code);
        Assert.Contains(weights, err);
        Assert.Single(err.Trim().Split('\n'));
    }
}
