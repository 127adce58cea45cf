using System.CommandLine;
using SparseMemory.Cli;

var root = new RootCommand("smf — continual learning of language models by sparse memory finetuning (Lin et al. 2025)")
{
    PretrainCommand.Create(),
    GenerateCommand.Create(),
    DemoCommand.Create(),
};
return CliRunner.Invoke(root, args);
