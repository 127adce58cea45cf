using System.Diagnostics;
using SparseMemory.Model;
using TorchSharp;

namespace SparseMemory.Benchmarks;

/// <summary>Settings of <see cref="DecodeBenchmark.Run"/>.</summary>
/// <param name="NewTokens">Tokens generated per row (no early stop).</param>
/// <param name="PromptLength">Prompt tokens of the longest row; with several rows the lengths spread down to half of it.</param>
/// <param name="Rows">Prompts decoded together (1 = single-prompt generation; QA probes decode up to 64).</param>
/// <param name="Rounds">Rounds; each times both paths, the order alternating between rounds.</param>
/// <param name="Seed">Seed of the prompts.</param>
public sealed record DecodeBenchmarkOptions(int NewTokens = 200, int PromptLength = 16, int Rows = 1, int Rounds = 3, int Seed = 1)
{
    /// <summary>Problems with the settings (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (NewTokens <= 0) e.Add("--decode must be ≥ 1");
        if (PromptLength <= 0) e.Add("--prompt-len must be ≥ 1");
        if (Rows <= 0) e.Add("--rows must be ≥ 1");
        if (Rounds <= 0) e.Add("--rounds must be ≥ 1");
        return e;
    }
}

/// <summary>Generated tokens per second of both decoding paths, per round, and their ratio within each round.</summary>
/// <param name="ReferenceTokensPerSecond">The full-prefix recompute (<see cref="SamplingOptions.UseKvCache"/> false).</param>
/// <param name="CachedTokensPerSecond">The KV-cache path.</param>
/// <param name="TokensIdentical">Whether both paths generated the same tokens in every round.</param>
/// <param name="ReferenceTokensPerCpuSecond">The reference's tokens per second of process CPU time (less sensitive to other load).</param>
/// <param name="CachedTokensPerCpuSecond">The KV-cache path's tokens per second of process CPU time.</param>
public sealed record DecodeTiming(IReadOnlyList<double> ReferenceTokensPerSecond, IReadOnlyList<double> CachedTokensPerSecond, bool TokensIdentical,
    IReadOnlyList<double> ReferenceTokensPerCpuSecond, IReadOnlyList<double> CachedTokensPerCpuSecond)
{
    /// <summary>Per round: cached ÷ reference tokens per CPU second.</summary>
    public IReadOnlyList<double> CpuSpeedup => CachedTokensPerCpuSecond.Zip(ReferenceTokensPerCpuSecond, (c, r) => c / r).ToArray();

    /// <summary>Per round: cached ÷ reference tokens per second.</summary>
    public IReadOnlyList<double> Speedup => CachedTokensPerSecond.Zip(ReferenceTokensPerSecond, (c, r) => c / r).ToArray();

    /// <summary>Median of a list.</summary>
    public static double Median(IReadOnlyList<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
}

/// <summary>
/// Times greedy decoding of <see cref="DecodeBenchmarkOptions.NewTokens"/> tokens with the KV cache against the
/// reference that recomputes the prefix every step, on the same model and prompts, alternating the order every round
/// so slow phases of the machine hit both. Also checks that both paths produced the same tokens.
/// </summary>
public static class DecodeBenchmark
{
    /// <summary>Runs the benchmark; <paramref name="progress"/> gets a line per timed run.</summary>
    public static DecodeTiming Run(LanguageModel model, DecodeBenchmarkOptions o, Action<string>? progress = null)
    {
        var errors = o.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));
        var rng = new Random(o.Seed);
        int vocab = model.Config.VocabSize;
        var prompts = Enumerable.Range(0, o.Rows)
            .Select(r => o.Rows == 1 ? o.PromptLength : Math.Max(1, o.PromptLength - r * (o.PromptLength / 2) / Math.Max(1, o.Rows - 1)))
            .Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray()).ToArray();
        var options = new SamplingOptions(MaxTokens: o.NewTokens, StopAtEos: false);
        // Untimed warm-up of both paths (lazily built tables, first-call costs).
        var warm = options with { MaxTokens = Math.Min(4, o.NewTokens) };
        TextGenerator.GenerateIds(model, prompts, warm with { UseKvCache = false }, maxBatch: o.Rows);
        TextGenerator.GenerateIds(model, prompts, warm, maxBatch: o.Rows);
        var reference = new double[o.Rounds];
        var cached = new double[o.Rounds];
        var referenceCpu = new double[o.Rounds];
        var cachedCpu = new double[o.Rounds];
        IReadOnlyList<int[]>? first = null;
        bool identical = true;
        for (int round = 0; round < o.Rounds; round++)
        {
            foreach (bool useCache in round % 2 == 0 ? new[] { false, true } : [true, false])
            {
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                var ids = TextGenerator.GenerateIds(model, prompts, options with { UseKvCache = useCache }, maxBatch: o.Rows);
                double tps = ids.Sum(x => x.Length) / sw.Elapsed.TotalSeconds;
                double cpuTps = ids.Sum(x => x.Length) / (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
                (useCache ? cachedCpu : referenceCpu)[round] = cpuTps;
                first ??= ids;
                identical &= ids.Zip(first, (a, b) => a.SequenceEqual(b)).All(x => x);
                (useCache ? cached : reference)[round] = tps;
                progress?.Invoke($"round {round + 1}/{o.Rounds}: {(useCache ? "kv cache" : "reference")} {tps:F1} tokens/s ({cpuTps:F1} per CPU second)");
            }
        }
        return new DecodeTiming(reference, cached, identical, referenceCpu, cachedCpu);
    }
}
