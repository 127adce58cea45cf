using SparseMemory.Cli;

NativeAllocator.Configure();
return CliRunner.Invoke(SmfApp.CreateRoot(), args);
