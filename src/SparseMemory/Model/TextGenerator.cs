using SparseMemory.Data;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Model;

/// <summary>Decoding settings. Temperature 0 is greedy.</summary>
/// <param name="MaxTokens">Tokens to generate at most.</param>
/// <param name="Temperature">Softmax temperature; 0 = greedy (argmax).</param>
/// <param name="TopP">Nucleus sampling mass (1 = off).</param>
/// <param name="Seed">Sampling seed.</param>
/// <param name="StopAtEos">Stop a sequence at an end-of-text token (any of <see cref="ITokenizer.EosIds"/>).</param>
/// <param name="StopAtNewline">Stop a sequence once its text contains a newline (short answers).</param>
/// <param name="UseKvCache">Decode incrementally with a KV cache (default). False recomputes the whole prefix for
/// every token: the plain reference path, kept for tests and benchmarks.</param>
public sealed record SamplingOptions(int MaxTokens = 64, double Temperature = 0, double TopP = 1.0, int Seed = 1,
    bool StopAtEos = true, bool StopAtNewline = false, bool UseKvCache = true);

/// <summary>
/// Autoregressive decoding, the one generator of the library (QA probes, <c>smf generate</c>, serve, the demo).
/// <para>Fast path (<see cref="SamplingOptions.UseKvCache"/>): prompts are sorted by length and batched with left
/// padding; the prompt runs once through the model filling a <see cref="KvCache"/>, then each step runs only the new
/// token. Reference path: every step recomputes each row's whole prefix, in batches of prompts of equal length.
/// Both give each row what it would get alone (docs/architecture.md#generation-with-a-kv-cache).</para>
/// <para>Beyond <c>model.max_seq_len</c> both paths condition on the last max_seq_len tokens of each row (a sliding
/// window, positions restarting at 0). The window moves every step, so the fast path then recomputes the window per
/// step like the reference, instead of silently doing something else.</para>
/// <para>Sampling draws from one generator per row, seeded with <see cref="SamplingOptions.Seed"/>, so a row's sample
/// does not depend on the batch it is decoded in.</para>
/// </summary>
public static class TextGenerator
{
    /// <summary>
    /// Smallest positive temperature. Below it the scaled logits (logits / temperature) overflow to infinity in float32
    /// well before 1e-38, softmax turns them into NaN and the native sampler fails; use 0 for greedy decoding.
    /// </summary>
    public const double MinTemperature = 1e-4;

    /// <summary>The sampling settings' problems (empty when usable): temperature 0 or in [<see cref="MinTemperature"/>, ∞), top-p in (0, 1].</summary>
    public static IReadOnlyList<string> Validate(SamplingOptions o)
    {
        var e = new List<string>();
        if (o.MaxTokens < 0) e.Add($"max-tokens is {o.MaxTokens}; it must be ≥ 0");
        if (!double.IsFinite(o.Temperature) || o.Temperature < 0 || (o.Temperature > 0 && o.Temperature < MinTemperature))
            e.Add($"temperature is {o.Temperature:G}; it must be 0 (greedy) or a finite number ≥ {MinTemperature:G}");
        if (!(o.TopP > 0 && o.TopP <= 1)) e.Add($"top-p is {o.TopP:G}; it must be in (0, 1] (1 = no nucleus cut)");
        return e;
    }

    /// <summary>Continuation of one prompt (the prompt itself excluded).</summary>
    public static string Generate(LanguageModel model, ITokenizer tokenizer, string prompt, SamplingOptions options) =>
        GenerateBatch(model, tokenizer, [prompt], options)[0];

    /// <summary>Continuations of many prompts, in input order; at most <paramref name="maxBatch"/> rows decode together.</summary>
    public static IReadOnlyList<string> GenerateBatch(LanguageModel model, ITokenizer tokenizer, IReadOnlyList<string> prompts,
        SamplingOptions options, int maxBatch = 64)
    {
        var encoded = prompts.Select(tokenizer.EncodePrompt).ToArray();
        // A newline is one byte, so it is never split across tokens: checking each new token suffices.
        Func<int, bool>? endsLine = options.StopAtNewline ? id => tokenizer.Decode([id]).Contains('\n') : null;
        var ids = GenerateIds(model, encoded, options, options.StopAtEos ? tokenizer.EosIds : null, endsLine, maxBatch, tokenCount: tokenizer.VocabSize);
        return ids.Select(o =>
        {
            string text = tokenizer.Decode(o);
            return options.StopAtNewline && text.IndexOf('\n') is int nl and >= 0 ? text[..nl] : text;
        }).ToArray();
    }

    /// <summary>
    /// Token-level decoding: the continuation ids of each prompt (non-empty id arrays), in input order. A row stops at
    /// any of <paramref name="eosIds"/> (not included; a tokenizer's <see cref="ITokenizer.EosIds"/>) or after a token
    /// for which <paramref name="stopAfter"/> is true (included).
    /// <paramref name="observe"/> sees every step's next-token logits [b, V] with the prompt index of each row, before the
    /// next tokens are picked from them (tests; serve's logprobs).
    /// <paramref name="tokenCount"/>, the tokenizer's <see cref="ITokenizer.VocabSize"/>, keeps decoding to ids the
    /// tokenizer has text for: imported checkpoints often pad the embedding table past the tokenizer (Qwen2: 151,936 rows
    /// for ≈ 151.6k ids), and those rows' logits are cut off before picking (and before <paramref name="observe"/>).
    /// </summary>
    public static IReadOnlyList<int[]> GenerateIds(LanguageModel model, IReadOnlyList<int[]> prompts, SamplingOptions options,
        IReadOnlyCollection<int>? eosIds = null, Func<int, bool>? stopAfter = null, int maxBatch = 64, Action<IReadOnlyList<int>, Tensor>? observe = null,
        int? tokenCount = null)
    {
        if (tokenCount is int n && (n <= 0 || n > model.Config.VocabSize))
            throw new ArgumentException($"tokenCount is {n}; it must be in [1, model vocab_size {model.Config.VocabSize}]");
        int limit = tokenCount ?? model.Config.VocabSize;
        if (maxBatch <= 0) throw new ArgumentException($"maxBatch is {maxBatch}; it must be ≥ 1");
        if (Validate(options) is { Count: > 0 } problems) throw new ArgumentException(string.Join("; ", problems));
        if (prompts.Any(p => p.Length == 0)) throw new ArgumentException("every prompt needs at least one token");
        var results = new int[prompts.Count][];
        var device = model.parameters().First().device;
        int maxLen = model.Config.MaxSeqLen;
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = torch.no_grad();
            // Cached: sorted by length so each batch pads little. Reference: only prompts of equal length share a batch.
            var batches = options.UseKvCache
                ? Enumerable.Range(0, prompts.Count).OrderBy(i => prompts[i].Length).Chunk(maxBatch)
                : Enumerable.Range(0, prompts.Count).GroupBy(i => prompts[i].Length).SelectMany(g => g.Chunk(maxBatch));
            foreach (var chunk in batches)
            {
                var rows = new Rows(chunk, prompts, options, eosIds, stopAfter);
                if (options.UseKvCache) DecodeCached(model, rows, options, maxLen, limit, device, observe);
                else DecodeReference(model, rows, options, maxLen, limit, device, observe);
                for (int r = 0; r < chunk.Length; r++) results[chunk[r]] = rows.Output[r].ToArray();
            }
        }
        finally { model.train(wasTraining); }
        return results;
    }

    /// <summary>The reference: every step runs each row's last max_seq_len tokens through <see cref="LanguageModel.forward"/>.</summary>
    static void DecodeReference(LanguageModel model, Rows rows, SamplingOptions options, int maxLen, int limit, Device device,
        Action<IReadOnlyList<int>, Tensor>? observe)
    {
        for (int step = 0; step < options.MaxTokens && rows.AnyActive; step++)
        {
            using var scope = torch.NewDisposeScope();
            int len = rows.Seqs[0].Count;                                // equal lengths within a reference batch
            int start = Math.Max(0, len - maxLen);
            var flat = rows.Seqs.SelectMany(s => s.Skip(start).Select(x => (long)x)).ToArray();
            var input = torch.tensor(flat, [rows.Count, len - start], device: device);
            var logits = Decodable(model.forward(input).select(1, -1), limit);   // (b, V)
            observe?.Invoke(rows.PromptIndex, logits);
            rows.Advance(Pick(logits, options, rows.Generators));
        }
    }

    /// <summary>The fast path: the left-padded prompts once into a KV cache, then one column per step.</summary>
    static void DecodeCached(LanguageModel model, Rows rows, SamplingOptions options, int maxLen, int limit, Device device,
        Action<IReadOnlyList<int>, Tensor>? observe)
    {
        // Each row's context is its last max_seq_len tokens (the reference's window).
        var prompts = rows.Seqs.Select(s => s.Skip(Math.Max(0, s.Count - maxLen)).ToArray()).ToArray();
        int width = prompts.Max(p => p.Length);
        // Columns ever fed: the prompt, then every generated token but the last; never beyond the window.
        int capacity = Math.Min(width + options.MaxTokens - 1, maxLen);
        using var cache = new KvCache(rows.Count, Math.Max(capacity, width), prompts.Select(p => width - p.Length).ToArray());
        for (int step = 0; step < options.MaxTokens && rows.AnyActive; step++)
        {
            using var scope = torch.NewDisposeScope();
            Tensor logits;
            if (step == 0) logits = model.ForwardNext(LeftPadded(prompts, width, device), cache);
            else if (cache.Length < cache.Capacity)
                logits = model.ForwardNext(torch.tensor(rows.Seqs.Select(s => (long)s[^1]).ToArray(), [rows.Count, 1], device: device), cache);
            else logits = WindowStep(model, rows, maxLen, device);
            logits = Decodable(logits, limit);
            observe?.Invoke(rows.PromptIndex, logits);
            rows.Advance(Pick(logits, options, rows.Generators));
        }
    }

    /// <summary>Past max_seq_len: each row's last max_seq_len tokens, left-padded, through a fresh cache (the reference's window).</summary>
    static Tensor WindowStep(LanguageModel model, Rows rows, int maxLen, Device device)
    {
        var windows = rows.Seqs.Select(s => s.Skip(Math.Max(0, s.Count - maxLen)).ToArray()).ToArray();
        int width = windows.Max(w => w.Length);
        using var cache = new KvCache(rows.Count, width, windows.Select(w => width - w.Length).ToArray());
        return model.ForwardNext(LeftPadded(windows, width, device), cache);
    }

    static Tensor LeftPadded(int[][] seqs, int width, Device device)
    {
        var flat = new long[seqs.Length * width];                      // padding columns hold token 0; they are masked
        for (int r = 0; r < seqs.Length; r++)
            for (int j = 0; j < seqs[r].Length; j++) flat[r * width + width - seqs[r].Length + j] = seqs[r][j];
        return torch.tensor(flat, [seqs.Length, width], device: device);
    }

    /// <summary>The logits of the ids below <paramref name="limit"/> (a view; the whole row when the tokenizer covers the vocabulary).</summary>
    static Tensor Decodable(Tensor logits, int limit) => limit < logits.shape[^1] ? logits.narrow(-1, 0, limit) : logits;

    /// <summary>Next token per row: argmax, or a sample from the row's own generator.</summary>
    static long[] Pick(Tensor logits, SamplingOptions o, torch.Generator[] generators)
    {
        if (logits.dtype is ScalarType.Float16 or ScalarType.BFloat16) logits = logits.to(ScalarType.Float32);
        if (o.Temperature <= 0) return logits.argmax(-1).cpu().data<long>().ToArray();
        var probs = F.softmax(logits / o.Temperature, -1);
        if (o.TopP < 1.0)
        {
            var (sorted, idx) = probs.sort(-1, descending: true);
            var cum = sorted.cumsum(-1);
            var drop = (cum - sorted) > o.TopP;                 // keep the smallest prefix whose mass reaches top_p
            sorted = sorted.masked_fill(drop, 0);
            probs = torch.zeros_like(probs).scatter(-1, idx, sorted);
        }
        var next = new long[probs.shape[0]];
        for (int r = 0; r < next.Length; r++)
            next[r] = torch.multinomial(probs.narrow(0, r, 1), 1, generator: generators[r]).item<long>();
        return next;
    }

    /// <summary>The rows of one batch: their sequences (prompt + generated), outputs and stop state.</summary>
    sealed class Rows
    {
        readonly HashSet<int> _eos;
        readonly Func<int, bool>? _stopAfter;
        readonly bool[] _active;

        public Rows(int[] promptIndex, IReadOnlyList<int[]> prompts, SamplingOptions o, IReadOnlyCollection<int>? eos, Func<int, bool>? stopAfter)
        {
            PromptIndex = promptIndex;
            Seqs = promptIndex.Select(i => prompts[i].ToList()).ToArray();
            Output = promptIndex.Select(_ => new List<int>()).ToArray();
            _active = Enumerable.Repeat(true, promptIndex.Length).ToArray();
            Generators = o.Temperature > 0 ? promptIndex.Select(_ => new torch.Generator((ulong)o.Seed)).ToArray() : [];
            _eos = eos is null ? [] : [.. eos];
            _stopAfter = stopAfter;
        }

        public int[] PromptIndex { get; }
        public List<int>[] Seqs { get; }
        public List<int>[] Output { get; }
        public torch.Generator[] Generators { get; }
        public int Count => PromptIndex.Length;
        public bool AnyActive => _active.Any(a => a);

        /// <summary>Appends each row's next token; finished rows keep advancing (their output is complete).</summary>
        public void Advance(long[] next)
        {
            for (int r = 0; r < Count; r++)
            {
                int id = (int)next[r];
                Seqs[r].Add(id);
                if (!_active[r]) continue;
                if (_eos.Contains(id)) { _active[r] = false; continue; }
                Output[r].Add(id);
                if (_stopAfter?.Invoke(id) == true) _active[r] = false;
            }
        }
    }
}
