using SparseMemory.Model;
using SparseMemory.Training;
using TorchSharp;
using Xunit;
using Xunit.Sdk;

namespace SparseMemory.Tests.Training;

public sealed class FullTrainingTests
{
    [Fact]
    public void Every_parameter_is_in_exactly_one_group_and_the_value_table_in_its_own()
    {
        torch.manual_seed(6);
        using var model = new LanguageModel(Fixtures.TinyConfig("unused").Model);
        var method = new FullTraining(1e-3, 0.1, 1e-3, 0, LrSchedule.Constant);
        method.Prepare(model);
        var groups = method.ParameterGroups(model);
        // TorchSharp returns a new wrapper per access, so the table once matched no reference test and sat in "decay" too.
        var members = AssertEachParameterOnce(model, groups);
        Assert.Equal(["memory_values.weight"], members.Where(m => m.Group == FullTraining.ValuesGroup).Select(m => m.Param));
    }

    [Fact]
    public void The_group_check_catches_a_dropped_and_a_duplicated_parameter_that_leave_the_total_unchanged()
    {
        torch.manual_seed(6);
        using var model = new LanguageModel(Fixtures.TinyConfig("unused").Model);
        var method = new FullTraining(1e-3, 0.1, 1e-3, 0, LrSchedule.Constant);
        method.Prepare(model);
        var groups = method.ParameterGroups(model);
        var decay = groups.Single(g => g.Name == "decay");
        var broken = groups.Select(g => g == decay ? g with { Parameters = [.. g.Parameters.Skip(1), g.Parameters[^1]] } : g).ToList();
        Assert.Equal(model.parameters().Count(), broken.Sum(g => g.Parameters.Count));        // what the old size check compared
        var e = Assert.ThrowsAny<XunitException>(() => AssertEachParameterOnce(model, broken));
        Assert.Contains("×0", e.Message);                                                    // the dropped one
        Assert.Contains("×2", e.Message);                                                    // the duplicated one
    }

    /// <summary>
    /// Asserts that the groups hold every parameter of <paramref name="model"/> exactly once, by identity, and returns
    /// (group, parameter name) pairs. TorchSharp hands out a new wrapper per access, so references cannot be compared:
    /// each parameter is filled with its own index and a group tensor reads back the parameter whose storage it shares.
    /// </summary>
    internal static List<(string Group, string Param)> AssertEachParameterOnce(LanguageModel model, IEnumerable<ParamGroupSpec> groups)
    {
        var named = model.named_parameters().ToList();
        using (torch.no_grad())
            for (int i = 0; i < named.Count; i++) named[i].parameter.fill_(i + 1);
        var members = groups.SelectMany(g => g.Parameters.Select(p =>
        {
            double tag = p.flatten()[0].item<float>();
            Assert.True(tag == Math.Floor(tag) && tag >= 1 && tag <= named.Count, $"group {g.Name}: a tensor that is no parameter of the model");
            return (g.Name, named[(int)tag - 1].name);
        })).ToList();
        var counts = members.GroupBy(m => m.Item2).ToDictionary(x => x.Key, x => x.Count());
        var wrong = named.Select(p => p.name).Where(n => counts.GetValueOrDefault(n) != 1).Select(n => $"{n} ×{counts.GetValueOrDefault(n)}").ToList();
        Assert.True(wrong.Count == 0, $"every parameter must be in exactly one group: {string.Join(", ", wrong)}");
        return members;
    }
}
