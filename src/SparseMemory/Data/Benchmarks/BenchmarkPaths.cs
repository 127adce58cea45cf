namespace SparseMemory.Data.Benchmarks;

/// <summary>
/// Where the benchmark files published in <c>../shared/data/benchmarks/</c> live, and the path of each file
/// inside that folder (see docs/data.md#benchmark-files). The files are read in place and never copied into the repository.
/// </summary>
public sealed class BenchmarkPaths
{
    /// <summary>Environment variable that names the benchmarks folder explicitly.</summary>
    public const string EnvironmentVariable = "SMF_BENCHMARKS";

    /// <summary>The folder searched for at every ancestor of the start directory.</summary>
    public static readonly string RelativeLocation = Path.Combine("shared", "data", "benchmarks");

    /// <summary>Wraps an existing benchmarks folder.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public BenchmarkPaths(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"benchmarks folder '{root}' not found");
        Root = Path.GetFullPath(root);
    }

    /// <summary>Absolute path of the benchmarks folder.</summary>
    public string Root { get; }

    /// <summary>NaturalQuestions-open dev set, 3,610 items.</summary>
    public string NqOpenDev => Path.Combine(Root, "nq_open_dev.jsonl");

    /// <summary>TriviaQA subset used as the facts to learn, 2,000 items.</summary>
    public string TriviaQa => Path.Combine(Root, "llmf", "triviaqa_sm_sub.jsonl");

    /// <summary>HellaSwag validation set, gzip text, 10,042 items.</summary>
    public string HellaSwagVal => Path.Combine(Root, "hellaswag_val_full.txt.gz");

    /// <summary>GSM8K test set, 1,319 items.</summary>
    public string Gsm8kTest => Path.Combine(Root, "gsm8k_test.jsonl");

    /// <summary>Folder of BLiMP paradigms, one <c>*.jsonl.gz</c> per paradigm.</summary>
    public string BlimpDirectory => Path.Combine(Root, "blimp");

    /// <summary>LAMBADA (OpenAI version), 5,153 items.</summary>
    public string Lambada => Path.Combine(Root, "llmf", "lambada_openai.jsonl");

    /// <summary>ARC-Easy, 2,376 items.</summary>
    public string ArcEasy => Path.Combine(Root, "llmf", "arc_easy.jsonl");

    /// <summary>PIQA, 1,838 items.</summary>
    public string Piqa => Path.Combine(Root, "llmf", "piqa.jsonl");

    /// <summary>
    /// Finds the benchmarks folder: <paramref name="explicitRoot"/> if given, else
    /// <paramref name="environmentRoot"/> (the value of <see cref="EnvironmentVariable"/>, read by the caller),
    /// else the first <c>shared/data/benchmarks</c> found walking up from <paramref name="startDirectory"/>.
    /// </summary>
    /// <returns>The located folder, or <c>null</c> when none of the candidates exists.</returns>
    public static BenchmarkPaths? Locate(string? explicitRoot, string? environmentRoot, string startDirectory)
    {
        foreach (var candidate in new[] { explicitRoot, environmentRoot })
        {
            if (!string.IsNullOrWhiteSpace(candidate))
                return Directory.Exists(candidate) ? new BenchmarkPaths(candidate) : null;
        }
        for (var dir = new DirectoryInfo(Path.GetFullPath(startDirectory)); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, RelativeLocation);
            if (Directory.Exists(candidate)) return new BenchmarkPaths(candidate);
        }
        return null;
    }

    /// <summary>
    /// Convenience for applications and tests: <see cref="Locate(string?, string?, string)"/> with the
    /// <see cref="EnvironmentVariable"/> value and a walk up from <see cref="AppContext.BaseDirectory"/>.
    /// </summary>
    public static BenchmarkPaths? LocateDefault(string? explicitRoot = null) =>
        Locate(explicitRoot, Environment.GetEnvironmentVariable(EnvironmentVariable), AppContext.BaseDirectory);
}
