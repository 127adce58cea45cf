using SparseMemory.Model;
using SparseMemory.Training;
using TorchSharp;
using Xunit;

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
        Assert.Equal(model.parameters().Count(), groups.Sum(g => g.Parameters.Count));
        var values = Assert.Single(groups, g => g.Name == "values");
        Assert.Equal(model.MemoryValues!.shape, Assert.Single(values.Parameters).shape);
    }
}
