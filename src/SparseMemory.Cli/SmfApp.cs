using System.CommandLine;

namespace SparseMemory.Cli;

/// <summary>The <c>smf</c> command tree.</summary>
public static class SmfApp
{
    /// <summary>Builds the root command with every verb.</summary>
    public static RootCommand CreateRoot() => new("smf — continual learning of language models by sparse memory finetuning (Lin et al. 2025)")
    {
        PretrainCommand.Create(),
        ImportCommand.Create(),
        RetrofitCommand.Create(),
        BackgroundCommand.Create(),
        FinetuneCommand.Create(),
        ExperimentCommand.Create(),
        CoreSetCommand.Create(),
        EvalCommand.Create(),
        DiffCommand.Create(),
        GenerateCommand.Create(),
        LogitsCommand.Create(),
        BenchCommand.Create(),
        DemoCommand.Create(),
        DataCommand.Create(),
        ReportCommand.Create(),
        ServeCommand.Create(),
        InfoCommand.Create(),
    };
}
