using CsCheck;
using SparseMemory.Checkpoints;
using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Data.Facts;
using SparseMemory.Finetuning;
using SparseMemory.Model;
using SparseMemory.Reporting;
using SparseMemory.Runs;
using SparseMemory.Tests.Finetuning;
using SparseMemory.Training;
using Xunit;

namespace SparseMemory.Tests.Reliability;

/// <summary>
/// Every reader against randomly damaged copies of valid files (truncation, bit flips, splices, changed digits in the
/// header/JSON text): each case ends in success or in <see cref="InvalidDataException"/>, <see cref="ConfigException"/>
/// or <see cref="FileNotFoundException"/> whose message names the file — never another exception type (a bare
/// <c>JsonException</c>, an index or overflow error, an out-of-memory) — within a per-case time limit, and the input
/// file is left unchanged. About 1,300 cases in all.
/// </summary>
public sealed class ReaderFuzzTests(FinetuneFixture fx, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<FinetuneFixture>
{
    const int CasesPerReader = 110;
    static readonly TimeSpan CaseLimit = TimeSpan.FromSeconds(20);

    /// <summary>One mutation of a valid file: which kind, and the random numbers it uses.</summary>
    public sealed record Mutation(int Kind, int A, int B, int C, int Seed)
    {
        public byte[] Apply(byte[] valid)
        {
            var rng = new Random(Seed);
            int n = valid.Length;
            switch (Kind)
            {
                case 0:                                                        // truncate
                    return valid[..(A % (n + 1))];
                case 1:                                                        // flip 1-4 bits (half the time inside the first 512 bytes: the header)
                {
                    var b = (byte[])valid.Clone();
                    int limit = rng.Next(2) == 0 ? Math.Min(n, 512) : n;
                    for (int i = 0; i <= C % 4; i++) b[rng.Next(limit)] ^= (byte)(1 << rng.Next(8));
                    return b;
                }
                case 2:                                                        // splice: a chunk copied over or inserted elsewhere
                {
                    int from = A % n, len = 1 + B % Math.Min(64, n - from), to = C % n;
                    var list = valid.ToList();
                    var chunk = valid.Skip(from).Take(len).ToArray();
                    if (rng.Next(2) == 0) list.InsertRange(to, chunk);
                    else for (int i = 0; i < chunk.Length && to + i < list.Count; i++) list[to + i] = chunk[i];
                    return list.ToArray();
                }
                default:                                                       // change digits of the text part (a JSON header or file)
                {
                    var b = valid.ToList();
                    var digits = Enumerable.Range(0, Math.Min(n, 4096)).Where(i => valid[i] is >= (byte)'0' and <= (byte)'9').ToList();
                    if (digits.Count == 0) return valid;
                    int at = digits[A % digits.Count];
                    switch (B % 3)
                    {
                        case 0: b[at] = (byte)('0' + rng.Next(10)); break;
                        case 1: b.InsertRange(at, "99999999999999999999"u8.ToArray()); break;
                        default: b.Insert(at, (byte)'-'); break;
                    }
                    return b.ToArray();
                }
            }
        }
    }

    static readonly Gen<Mutation> Mutations = Gen.Select(Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Int[0, int.MaxValue], Gen.Int[0, int.MaxValue], Gen.Int)
        .Select((k, a, b, c, s) => new Mutation(k, a, b, c, s));

    /// <summary>
    /// Damages <paramref name="fileName"/> in a copy of <paramref name="sourceDir"/> (or the single file
    /// <paramref name="sourceFile"/>) by each generated mutation and runs <paramref name="read"/> on the damaged path.
    /// </summary>
    void Fuzz(string name, string sourceFile, Action<string> read, string? companionsDir = null, string? seed = null)
    {
        byte[] valid = File.ReadAllBytes(sourceFile);
        string fileName = Path.GetFileName(sourceFile);
        int cases = 0, rejected = 0;
        Mutations.Sample(m =>
        {
            string dir = Fixtures.TempDir("fuzz-" + name);
            if (companionsDir is not null)
                foreach (string f in Directory.GetFiles(companionsDir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            string path = Path.Combine(dir, fileName);
            byte[] damaged = m.Apply(valid);
            File.WriteAllBytes(path, damaged);
            var task = Task.Run(() => read(path));
            bool finished;
            try { finished = task.Wait(CaseLimit); }
            catch (AggregateException ae) when (ae.InnerException is { } e)
            {
                Assert.True(e is InvalidDataException or ConfigException or FileNotFoundException,
                    $"{name} {m}: {e.GetType().Name} is not a documented reader error: {e}");
                Assert.True(e.Message.Contains(path, StringComparison.Ordinal) || e.Message.Contains(dir, StringComparison.Ordinal),
                    $"{name} {m}: the message does not name the file: {e.Message}");
                finished = true;
                rejected++;
            }
            Assert.True(finished, $"{name} {m}: the reader did not finish within {CaseLimit.TotalSeconds} s");
            Assert.True(File.ReadAllBytes(path).AsSpan().SequenceEqual(damaged), $"{name} {m}: the reader changed its input");
            Directory.Delete(dir, recursive: true);
            cases++;
        }, seed: seed, iter: CasesPerReader, threads: 1);
        Assert.Equal(CasesPerReader, cases);
        output.WriteLine($"{name}: {cases} damaged inputs, {rejected} rejected with a documented error, {cases - rejected} read");
    }

    static void DisposeAll(Dictionary<string, TorchSharp.torch.Tensor> tensors) { foreach (var t in tensors.Values) t.Dispose(); }

    [Fact]
    public void Safetensors_codec_on_damaged_weights() =>
        Fuzz("st", Path.Combine(fx.BaseDir, Checkpoint.ModelFile), p => DisposeAll(SafeTensors.Load(p).Tensors));

    [Fact]
    public void Checkpoint_load_on_damaged_weights() =>
        Fuzz("ckpt-w", Path.Combine(fx.BaseDir, Checkpoint.ModelFile), p => Checkpoint.Load(Path.GetDirectoryName(p)!).Model.Dispose(), fx.BaseDir);

    [Fact]
    public void Config_readers_on_a_damaged_config() =>
        Fuzz("cfg", Path.Combine(fx.BaseDir, Checkpoint.ConfigFile), p =>
        {
            try { ConfigLoader.ReadFile<PretrainConfig>(p); }
            catch (ConfigException) { }
            Checkpoint.Load(Path.GetDirectoryName(p)!).Model.Dispose();
        }, fx.BaseDir);

    [Fact]
    public void Tokenizer_on_a_damaged_tokenizer_json() =>
        Fuzz("tok", Path.Combine(fx.BaseDir, Checkpoint.TokenizerFile), p => ByteLevelBpeTokenizer.Load(p));

    [Fact]
    public void Facts_reader_on_damaged_jsonl_and_gz()
    {
        Fuzz("facts", fx.FactsPath, p => FactsFile.Read(p));
        string gz = Path.Combine(fx.Root, "facts-fuzz.jsonl.gz");
        using (var s = File.Create(gz)) FactsFile.WriteTo(s, FactsFile.Read(fx.FactsPath), gzip: true);
        Fuzz("facts-gz", gz, p => FactsFile.Read(p));
    }

    [Fact]
    public void Result_file_readers_on_damaged_metrics_and_summary()
    {
        Fuzz("metrics", Path.Combine(fx.BaseDir, Checkpoint.MetricsFile), p => ResultFiles.ReadMetrics(p));
        Fuzz("summary", Path.Combine(fx.BaseDir, RunFolder.SummaryFile), p =>
        {
            ResultFiles.ReadSummary(p);
            RunFolder.CompletedSummary<PretrainSummary>(Path.GetDirectoryName(p)!);
        });
    }

    [Fact]
    public void Background_statistics_on_a_damaged_file() =>
        Fuzz("bg", Path.Combine(fx.BaseDir, BackgroundStatsBuilder.FileName), p => BackgroundStats.Load(p));

    [Fact]
    public void Resume_on_damaged_optimizer_state()
    {
        var cfg = Checkpoint.ReadModelConfig(fx.BaseDir).Model;
        Fuzz("opt", Path.Combine(fx.BaseDir, Checkpoint.OptimizerFile), p =>
        {
            using var model = new LanguageModel(cfg);
            using var method = new FullTraining(1e-3, 0.1, 1e-3, 0, LrSchedule.Constant);   // lazy value updates, as the base was pretrained
            method.Prepare(model);
            var loop = new LoopSettings(100, 1, 0.1, 1, 1, 100, 100);
            var groups = method.ParameterGroups(model).ToList();
            using var opt = method.CreateOptimizer(groups, loop) ?? new TorchStepOptimizer(groups, loop);
            var restore = new TrainingRestore("full", model.state_dict().Select(kv => (kv.Key, kv.Value)).ToList(), null, opt.Load);
            TrainingCheckpoint.Resume(Path.GetDirectoryName(p)!, restore, 100);
        }, fx.BaseDir);
    }
}
