using SparseMemory.Config;
using SparseMemory.Model;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Model;

/// <summary>
/// The KV-cache decoder against the reference that recomputes the whole prefix every step
/// (docs/architecture.md#generation-with-a-kv-cache): random small models in float64, greedy tokens identical and
/// per-step logits close, with mixed prompt lengths in one left-padded batch and across model.max_seq_len.
/// </summary>
public sealed class KvCacheGenerationTests
{
    static ModelConfig Config(int variant, int maxSeqLen = 64) => variant switch
    {
        // memory layer in the middle, tied embeddings
        0 => new ModelConfig
        {
            VocabSize = 300, Dim = 32, Layers = 3, Heads = 2, FfnHidden = 48, MaxSeqLen = maxSeqLen, InitStd = 0.2,
            Memory = new MemoryConfig { Layers = [1], NumKeys = 8, Heads = 2, TopK = 4, KeyDim = 16 },
        },
        // two memory layers sharing the table, untied output, ungated memory, 4 heads
        1 => new ModelConfig
        {
            VocabSize = 280, Dim = 32, Layers = 3, Heads = 4, FfnHidden = 40, MaxSeqLen = maxSeqLen, InitStd = 0.3, TieEmbeddings = false,
            Memory = new MemoryConfig { Layers = [0, 2], NumKeys = 6, Heads = 3, TopK = 5, KeyDim = 8, Gated = false },
        },
        // dense model
        _ => new ModelConfig { VocabSize = 270, Dim = 24, Layers = 2, Heads = 3, FfnHidden = 32, MaxSeqLen = maxSeqLen, InitStd = 0.3, Memory = null },
    };

    static LanguageModel Build(ModelConfig cfg, int seed, ScalarType dtype)
    {
        torch.manual_seed(seed);
        var m = new LanguageModel(cfg);
        m.to(dtype);
        m.eval();
        return m;
    }

    static int[][] Prompts(int seed, int vocab, params int[] lengths)
    {
        var rng = new Random(seed);
        return lengths.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray()).ToArray();
    }

    /// <summary>Runs the generator and keeps every step's logits per prompt (copied out of the step's dispose scope).</summary>
    static (IReadOnlyList<int[]> Ids, List<double[]>[] Logits) Run(LanguageModel m, int[][] prompts, SamplingOptions o, int maxBatch)
    {
        var logits = prompts.Select(_ => new List<double[]>()).ToArray();
        var ids = TextGenerator.GenerateIds(m, prompts, o, maxBatch: maxBatch, observe: (rows, l) =>
        {
            var l64 = l.to(ScalarType.Float64).cpu();
            for (int r = 0; r < rows.Count; r++) logits[rows[r]].Add(l64[r].data<double>().ToArray());
        });
        return (ids, logits);
    }

    static void AssertSame((IReadOnlyList<int[]> Ids, List<double[]>[] Logits) expected, (IReadOnlyList<int[]> Ids, List<double[]>[] Logits) actual,
        double tol, string what)
    {
        for (int p = 0; p < expected.Ids.Count; p++)
        {
            Assert.True(expected.Ids[p].SequenceEqual(actual.Ids[p]),
                $"{what}, prompt {p}: tokens differ\n  expected {string.Join(" ", expected.Ids[p])}\n  actual   {string.Join(" ", actual.Ids[p])}");
            Assert.Equal(expected.Logits[p].Count, actual.Logits[p].Count);
            for (int s = 0; s < expected.Logits[p].Count; s++)
            {
                double max = expected.Logits[p][s].Zip(actual.Logits[p][s], (a, b) => Math.Abs(a - b)).Max();
                Assert.True(max <= tol, $"{what}, prompt {p}, step {s}: max |Δ logit| {max:G3} > {tol:G3}");
            }
        }
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 2)]
    [InlineData(2, 3)]
    public void Cached_greedy_equals_the_full_prefix_reference_in_float64(int variant, int seed)
    {
        var cfg = Config(variant);
        var m = Build(cfg, seed, ScalarType.Float64);
        var prompts = Prompts(seed, cfg.VocabSize, 1, 5, 9, 5, 17, 2, 30);
        var o = new SamplingOptions(MaxTokens: 20, StopAtEos: false);
        // The reference one prompt at a time; the fast path with every prompt in one left-padded batch, and in batches of 3.
        var reference = Run(m, prompts, o with { UseKvCache = false }, maxBatch: 1);
        AssertSame(reference, Run(m, prompts, o, maxBatch: 64), 1e-9, "one padded batch");
        AssertSame(reference, Run(m, prompts, o, maxBatch: 3), 1e-9, "batches of 3");
        AssertSame(reference, Run(m, prompts, o, maxBatch: 1), 1e-9, "one prompt per batch");
        // The reference batched by equal length (the old generator) agrees too.
        AssertSame(reference, Run(m, prompts, o with { UseKvCache = false }, maxBatch: 64), 1e-9, "reference batched");
    }

    [Theory]
    [InlineData(0, 4)]
    [InlineData(1, 5)]
    [InlineData(2, 6)]
    public void Past_max_seq_len_both_paths_slide_the_same_window(int variant, int seed)
    {
        // max_seq_len 24: prompts just below it, at it and beyond it, 16 new tokens, so every row crosses the limit
        // (the longest already in its prompt) while a short row is still inside it.
        var cfg = Config(variant, maxSeqLen: 24);
        var m = Build(cfg, seed, ScalarType.Float64);
        var prompts = Prompts(seed, cfg.VocabSize, 20, 23, 24, 31, 3);
        var o = new SamplingOptions(MaxTokens: 16, StopAtEos: false);
        var reference = Run(m, prompts, o with { UseKvCache = false }, maxBatch: 1);
        AssertSame(reference, Run(m, prompts, o, maxBatch: 64), 1e-9, "one padded batch");
        AssertSame(reference, Run(m, prompts, o, maxBatch: 1), 1e-9, "one prompt per batch");
    }

    [Theory]
    [InlineData(1e-39)]
    [InlineData(5e-324)]
    [InlineData(double.NaN)]
    [InlineData(-0.5)]
    [InlineData(double.PositiveInfinity)]
    public void A_temperature_that_would_overflow_the_logits_is_refused_before_the_native_sampler(double temperature)
    {
        var cfg = Config(2);
        using var m = Build(cfg, 3, ScalarType.Float32);
        var prompts = Prompts(3, cfg.VocabSize, 5);
        var o = new SamplingOptions(MaxTokens: 3, Temperature: temperature, StopAtEos: false);
        var e = Assert.Throws<ArgumentException>(() => TextGenerator.GenerateIds(m, prompts, o));
        Assert.Contains("temperature", e.Message);
        // The smallest allowed temperature samples (close to greedy) without NaN.
        var low = TextGenerator.GenerateIds(m, prompts, o with { Temperature = TextGenerator.MinTemperature });
        Assert.Equal(TextGenerator.GenerateIds(m, prompts, o with { Temperature = 0 })[0], low[0]);
    }

    [Fact]
    public void Stops_and_sampling_match_the_reference_and_do_not_depend_on_the_batch()
    {
        var cfg = Config(0);
        var m = Build(cfg, 7, ScalarType.Float64);
        var prompts = Prompts(7, cfg.VocabSize, 4, 11, 4, 8);
        prompts[2] = prompts[0];
        // Sampled: each row has its own generator, so a row samples the same alone or in any batch, cached or not.
        var o = new SamplingOptions(MaxTokens: 15, Temperature: 1.3, TopP: 0.9, Seed: 5, StopAtEos: false);
        var reference = Run(m, prompts, o with { UseKvCache = false }, maxBatch: 1);
        AssertSame(reference, Run(m, prompts, o, maxBatch: 64), 1e-9, "sampled, one padded batch");
        AssertSame(reference, Run(m, prompts, o with { UseKvCache = false }, maxBatch: 64), 1e-9, "sampled reference batched");
        Assert.Equal(reference.Ids[0], reference.Ids[2]);                 // same prompt, same seed: same sample
        // Stops: rows end at different steps (eos excluded, stop-after token included) while the others continue.
        var greedy = Run(m, prompts, new SamplingOptions(MaxTokens: 15, StopAtEos: false, UseKvCache: false), 1).Ids;
        int eos = greedy[1][3], stop = greedy[3][5];
        var stopRef = TextGenerator.GenerateIds(m, prompts, new SamplingOptions(MaxTokens: 15, UseKvCache: false), [eos], id => id == stop, 1);
        var stopCached = TextGenerator.GenerateIds(m, prompts, new SamplingOptions(MaxTokens: 15), [eos], id => id == stop, 64);
        for (int p = 0; p < prompts.Length; p++) Assert.Equal(stopRef[p], stopCached[p]);
        Assert.DoesNotContain(eos, stopCached[1]);
        Assert.True(stopCached[1].Length <= 3, "row 1 stopped at the end token");
        Assert.Contains(stopCached, r => r.Length < 15 && r.Length > 0 && r[^1] == stop);
    }

    /// <summary>
    /// Several end ids (an imported checkpoint's eos_token_id list): a row stops at whichever of them it generates, here
    /// the second of the set, on both paths; without that id in the set it runs on.
    /// </summary>
    [Fact]
    public void Ids_past_the_tokenizer_are_never_picked_and_the_others_keep_their_logits()
    {
        // An imported checkpoint may have more embedding rows than its tokenizer has ids (padding); those ids have no text.
        var cfg = Config(1);
        var m = Build(cfg, 5, ScalarType.Float64);
        var prompts = Prompts(5, cfg.VocabSize, 6, 6);
        var greedy = new SamplingOptions(MaxTokens: 8);
        foreach (bool cache in new[] { true, false })
        {
            var o = greedy with { UseKvCache = cache };
            var freeSeen = new List<Tensor>();
            var free = TextGenerator.GenerateIds(m, prompts, o, observe: (_, l) => freeSeen.Add(l.detach().clone().DetachFromDisposeScope()));
            int limit = free.SelectMany(r => r).Max();            // the largest id the free text uses is the first one cut off
            Assert.True(limit > 0);
            var seen = new List<Tensor>();
            var cut = TextGenerator.GenerateIds(m, prompts, o, observe: (_, l) => seen.Add(l.detach().clone().DetachFromDisposeScope()), tokenCount: limit);
            Assert.All(cut.SelectMany(r => r), id => Assert.True(id < limit, $"id {id} ≥ {limit} was picked"));
            Assert.NotEqual(free, cut);
            Assert.All(seen, l => Assert.Equal(limit, l.shape[^1]));
            Assert.True(seen[0].eq(freeSeen[0].narrow(-1, 0, limit)).all().item<bool>(), "the kept ids' logits changed");
            var sampled = TextGenerator.GenerateIds(m, prompts, o with { Temperature = 1, Seed = 2 }, tokenCount: limit);
            Assert.All(sampled.SelectMany(r => r), id => Assert.True(id < limit));
        }
        Assert.Throws<ArgumentException>(() => TextGenerator.GenerateIds(m, prompts, greedy, tokenCount: cfg.VocabSize + 1));
    }

    [Fact]
    public void A_row_stops_at_any_of_several_end_ids()
    {
        var cfg = Config(2);
        var m = Build(cfg, 11, ScalarType.Float64);
        var prompts = Prompts(11, cfg.VocabSize, 5, 9);
        // Sampled (a random model's greedy text repeats one token); each row has its own seeded generator.
        var sampled = new SamplingOptions(MaxTokens: 12, Temperature: 1, Seed: 3);
        var free = TextGenerator.GenerateIds(m, prompts, sampled);
        int cut = Enumerable.Range(1, 11).First(i => !free[0][..i].Contains(free[0][i]));   // first new token not seen before it
        int second = free[0][cut];
        int unused = Enumerable.Range(0, cfg.VocabSize).First(id => !free.Any(r => r.Contains(id)));
        foreach (bool cache in new[] { true, false })
        {
            var o = sampled with { UseKvCache = cache };
            var stopped = TextGenerator.GenerateIds(m, prompts, o, [unused, second]);
            Assert.Equal(free[0][..cut], stopped[0]);
            int inOther = Array.IndexOf(free[1], second);
            Assert.Equal(inOther >= 0 ? free[1][..inOther] : free[1], stopped[1]);
            Assert.Equal(free, TextGenerator.GenerateIds(m, prompts, o, [unused]));     // the first id alone never comes
        }
    }

    [Theory]
    [InlineData(ScalarType.Float64, 1e-10)]
    [InlineData(ScalarType.Float32, 2e-4)]
    public void Feeding_the_cache_in_chunks_gives_the_forward_logits(ScalarType dtype, double tol)
    {
        // Chunks of 5, 1, 3, 1 columns exercise the explicit causal mask (start > 0, several new columns), also in
        // float32 with the managed product-key search; left padding exercises the per-row positions.
        var cfg = Config(0);
        var m = Build(cfg, 11, dtype);
        var gen = new torch.Generator(11);
        var tokens = torch.randint(0, cfg.VocabSize, [3, 10], generator: gen);
        using var _ = torch.no_grad();
        var full = m.forward(tokens).to(ScalarType.Float64);                      // (3, 10, V)
        using (var cache = new KvCache(3, 10))
        {
            int col = 0;
            foreach (int n in new[] { 5, 1, 3, 1 })
            {
                var logits = m.ForwardNext(tokens.narrow(1, col, n), cache).to(ScalarType.Float64);
                col += n;
                double d = (logits - full.select(1, col - 1)).abs().max().item<double>();
                Assert.True(d <= tol * Math.Max(1, full.abs().max().item<double>()), $"after {col} columns: max |Δ| {d:G3}");
            }
            Assert.Equal(10, cache.Length);
        }
        // Row 1 alone with 4 columns of left padding in front of its last 6 tokens equals forward on those 6 tokens.
        using (var cache = new KvCache(2, 11, [0, 4]))
        {
            var input = torch.cat([tokens.narrow(0, 0, 1), torch.cat([torch.zeros([1, 4], ScalarType.Int64), tokens.narrow(0, 1, 1).narrow(1, 4, 6)], 1)], 0);
            var logits = m.ForwardNext(input, cache).to(ScalarType.Float64);
            var alone = m.forward(tokens.narrow(0, 1, 1).narrow(1, 4, 6)).select(1, -1).to(ScalarType.Float64);
            double d = (logits[1] - alone[0]).abs().max().item<double>();
            Assert.True(d <= tol * Math.Max(1, alone.abs().max().item<double>()), $"left-padded row: max |Δ| {d:G3}");
            var next = torch.tensor(new long[] { 5, 6 }, [2, 1]);
            logits = m.ForwardNext(next, cache).to(ScalarType.Float64);
            var alone2 = m.forward(torch.cat([tokens.narrow(0, 1, 1).narrow(1, 4, 6), next.narrow(0, 1, 1)], 1)).select(1, -1).to(ScalarType.Float64);
            d = (logits[1] - alone2[0]).abs().max().item<double>();
            Assert.True(d <= tol * Math.Max(1, alone2.abs().max().item<double>()), $"left-padded row, next step: max |Δ| {d:G3}");
        }
    }

    [Fact]
    public void The_cache_refuses_what_it_cannot_do_exactly()
    {
        var cfg = Config(0, maxSeqLen: 8);
        var m = Build(cfg, 1, ScalarType.Float32);
        var x = torch.zeros([1, 6], ScalarType.Int64);
        using var cache = new KvCache(1, 12);
        Assert.Throws<InvalidOperationException>(() => m.ForwardNext(x, cache));          // grad mode on
        using var _ = torch.no_grad();
        m.ForwardNext(x, cache);
        var e = Assert.Throws<ArgumentException>(() => m.ForwardNext(torch.zeros([1, 3], ScalarType.Int64), cache));
        Assert.Contains("max_seq_len", e.Message);
        Assert.Throws<ArgumentException>(() => m.ForwardNext(torch.zeros([2, 1], ScalarType.Int64), cache));   // wrong batch
    }
}
