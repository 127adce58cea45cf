using System.CommandLine;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Training;

namespace SparseMemory.Cli;

/// <summary>
/// Shared options and the error boundary (docs/reliability.md). No input makes smf print a stack trace:
/// <list type="bullet">
/// <item>an input or environment error (<see cref="IsInputError"/>) prints one line <c>error: …</c> on stderr and exits 2;</item>
/// <item>anything else is a bug: one line saying so and naming a log file (under the temp folder) that holds the full
/// trace, exit code 1;</item>
/// <item><c>--verbose</c> (on any verb) prints the full trace as well.</item>
/// </list>
/// </summary>
public static class CliRunner
{
    /// <summary>Exit code of an input or environment error.</summary>
    public const int InputErrorCode = 2;

    /// <summary>Exit code of an unexpected error (a bug).</summary>
    public const int BugCode = 1;

    /// <summary>The global <c>--verbose</c> option: print full stack traces of errors.</summary>
    public const string VerboseName = "--verbose";

    /// <summary>Parses and runs; maps every exception to a one-line error (see the class remarks).</summary>
    public static int Invoke(RootCommand root, string[] args)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(args);
        if (!root.Options.Any(o => o.Name == VerboseName))
            root.Options.Add(new Option<bool>(VerboseName) { Description = "Print the full stack trace of an error", Recursive = true });
        bool verbose = args.Contains(VerboseName);
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        try
        {
            TrainingCheckpoint.KillAtFaultPointFromEnvironment();
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                // One line, not the whole help text: what is wrong, and where the help is.
                string verb = string.Join(' ', Enumerable.Reverse(CommandPath(parsed.CommandResult)));
                Console.Error.WriteLine($"error: {string.Join("; ", parsed.Errors.Select(e => FriendlyParseError(e.Message)).Distinct())} (see {verb} --help)");
                return InputErrorCode;
            }
            return parsed.Invoke(config);
        }
        catch (Exception caught)
        {
            var e = Unwrap(caught);
            if (IsInputError(e))
            {
                Console.Error.WriteLine($"error: {Message(e)}");
                if (verbose) Console.Error.WriteLine(caught);
                return InputErrorCode;
            }
            string log = WriteLog(caught, args);
            Console.Error.WriteLine($"error: internal error (a bug in smf, please report it): {e.GetType().Name}: {FirstLine(e.Message)} — full trace in {log}" +
                                    (verbose ? "" : $" (or rerun with {VerboseName})"));
            if (verbose) Console.Error.WriteLine(caught);
            return BugCode;
        }
    }

    /// <summary>
    /// Errors caused by the input or the environment rather than by smf: bad options or config
    /// (<see cref="ConfigException"/>, <see cref="ArgumentException"/>), missing or damaged files
    /// (<see cref="FileNotFoundException"/>, <see cref="DirectoryNotFoundException"/>, <see cref="InvalidDataException"/>,
    /// other <see cref="IOException"/>s such as a full disk, <see cref="UnauthorizedAccessException"/>), a diverged run
    /// (<see cref="TrainingDivergedException"/>, <see cref="NonFiniteException"/> among them), and <see cref="InvalidOperationException"/>, which the library throws for
    /// inputs that do not fit together (e.g. statistics of another model) and TorchSharp for native errors.
    /// </summary>
    public static bool IsInputError(Exception e) =>
        e is ConfigException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or ArgumentException
            or TrainingDivergedException or IOException or UnauthorizedAccessException or InvalidOperationException;

    static IEnumerable<string> CommandPath(System.CommandLine.Parsing.CommandResult? c)
    {
        for (; c is not null; c = c.Parent as System.CommandLine.Parsing.CommandResult)
            yield return c.Parent is null ? "smf" : c.Command.Name;
    }

    /// <summary>A parser message with the .NET type names (<c>System.Nullable`1[System.Int32]</c>) said in words.</summary>
    internal static string FriendlyParseError(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message.ReplaceLineEndings(" ").Trim(), @"as expected type '([^']+)'\.?", m =>
        {
            string t = m.Groups[1].Value;
            return t.Contains("Int32") ? $"as a whole number (from {int.MinValue:N0} to {int.MaxValue:N0})"
                : t.Contains("Int64") ? "as a whole number"
                : t.Contains("Double") || t.Contains("Single") ? "as a number"
                : t.Contains("Boolean") ? "as true or false"
                : m.Value;
        });

    static Exception Unwrap(Exception e)
    {
        while (e is System.Reflection.TargetInvocationException or AggregateException && e.InnerException is not null) e = e.InnerException;
        return e;
    }

    /// <summary>
    /// Our own messages are kept whole (a config error may list several problems, one per indented line); native
    /// (libtorch) messages carry a C++ trace after their first line, which is dropped.
    /// </summary>
    static string Message(Exception e) =>
        e is ConfigException ? e.Message : e is InvalidOperationException or System.Runtime.InteropServices.ExternalException ? FirstLine(e.Message) : e.Message.ReplaceLineEndings(" ");

    static string FirstLine(string message)
    {
        string line = message.Split('\n', 2)[0].Trim();
        return line.Length > 0 ? line : message.ReplaceLineEndings(" ").Trim();
    }

    static string WriteLog(Exception e, string[] args)
    {
        string path = Path.Combine(Path.GetTempPath(), $"smf-error-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}.log");
        try
        {
            AtomicFile.WriteAllText(path, $"smf {string.Join(' ', args)}\n{DateTime.UtcNow:O}\n\n{e}\n");
            return path;
        }
        catch (Exception io) when (io is IOException or UnauthorizedAccessException)
        {
            return $"(no log: {io.Message.ReplaceLineEndings(" ")})";
        }
    }

    /// <summary>
    /// A flag as a shortcut for a config key: when given, <c>key=value</c> goes to <paramref name="overrides"/> (after the
    /// config file, before <c>--set</c>); its value is checked by the config's validation only. A value no config file
    /// can hold (NaN, infinity) is an error naming the flag.
    /// </summary>
    public static void Flag<T>(ParseResult pr, List<string> overrides, Option<T> option, string key)
    {
        if (pr.GetResult(option) is null or { Implicit: true } || pr.GetValue(option) is not { } value) return;
        try { overrides.Add(ConfigLoader.Set(key, value)); }
        catch (ConfigException e) { throw new ConfigException($"{option.Name}: {e.Message}"); }
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
