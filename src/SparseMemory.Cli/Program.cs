using SparseMemory.Cli;

return CliRunner.Invoke(SmfApp.CreateRoot(), args);
