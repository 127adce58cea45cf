using System.CommandLine;
using SparseMemory.Config;

namespace SparseMemory.Cli;

/// <summary>Shared options and the error boundary: expected failures become one line on stderr and exit code 2.</summary>
public static class CliRunner
{
    /// <summary>Parses and runs; maps known exceptions to a one-line error.</summary>
    public static int Invoke(RootCommand root, string[] args)
    {
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        try
        {
            return root.Parse(args).Invoke(config);
        }
        catch (Exception e) when (e is ConfigException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
                                      or InvalidOperationException or ArgumentException or IOException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }

    /// <summary>--preset NAME.</summary>
    public static Option<string?> PresetOption(string? defaultPreset) => new("--preset")
    {
        Description = $"Named config preset ({string.Join(", ", ConfigLoader.PresetNames)})",
        DefaultValueFactory = _ => defaultPreset,
    };

    /// <summary>--config FILE.</summary>
    public static Option<string?> ConfigOption() => new("--config") { Description = "JSON config file (applied after the preset)" };

    /// <summary>--set key=value (repeatable).</summary>
    public static Option<string[]> SetOption() => new("--set")
    {
        Description = "Override one config key, e.g. --set train.steps=500 (repeatable; unknown keys are errors)",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.ZeroOrMore,
    };
}
