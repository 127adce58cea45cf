using SparseMemory.Data;
using SparseMemory.Model;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Evaluation;

/// <summary>The score of one continuation given its context.</summary>
/// <param name="LogProb">Sum of the natural-log probabilities of the continuation's tokens (≤ 0).</param>
/// <param name="Tokens">Number of continuation tokens scored.</param>
/// <param name="Chars">Characters of the continuation text (0 for token-level requests).</param>
/// <param name="IsGreedy">True when every continuation token is the argmax of its prediction (greedy decoding
/// would produce the continuation exactly).</param>
public readonly record struct ContinuationScore(double LogProb, int Tokens, int Chars, bool IsGreedy)
{
    /// <summary>Negative log-likelihood of the whole continuation (nats).</summary>
    public double Nll => -LogProb;
}

/// <summary>
/// Batched log-likelihood of continuations under a <see cref="LanguageModel"/>, the core of every likelihood probe.
/// Letters: B batch rows, L padded window length, V vocab, M <c>model.max_seq_len</c>.
/// </summary>
/// <remarks>
/// <para><b>Tokenisation.</b> Context and continuation are encoded <i>separately</i> and their ids concatenated, so
/// the scored tokens are exactly <c>Encode(continuation)</c>, whatever the context: the choices of a multiple-choice
/// item are scored on identical token boundaries, and nothing of the context leaks into the continuation. Byte-level
/// BPE attaches a leading space to the word that follows it, so callers put the separating space at the
/// <i>start</i> of the continuation (<c>("Answer:", " Paris")</c>, not <c>("Answer: ", "Paris")</c>); this matches how
/// the text is tokenised in training documents. An empty context is replaced by the end-of-text token, so the first
/// continuation token is predicted from a document boundary (this is how whole sentences are scored).</para>
/// <para><b>Length.</b> When context + continuation exceed M, the context is truncated on the left. A continuation
/// longer than M/2 that does not fit is scored in consecutive pieces of M/2 tokens, each given the preceding tokens
/// (context and earlier pieces) truncated on the left, so every token is predicted from at least M/2 tokens of
/// history (or all of it) and each token is scored exactly once.</para>
/// <para><b>Batching.</b> Windows are sorted by length and right-padded; attention is causal, so padding never
/// affects the scored positions. Runs under <c>no_grad</c> with one dispose scope per batch.</para>
/// </remarks>
public static class LogLikelihood
{
    /// <summary>Default number of windows per forward pass.</summary>
    public const int DefaultBatchSize = 16;

    /// <summary>Scores each (context, continuation) pair; results in input order, <see cref="ContinuationScore.Chars"/>
    /// set to the continuation's length.</summary>
    public static IReadOnlyList<ContinuationScore> ScoreContinuations(LanguageModel model, ITokenizer tokenizer,
        IReadOnlyList<(string Context, string Continuation)> items, int batchSize = DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(items);
        var requests = new (int[] Context, int[] Continuation)[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            requests[i] = (tokenizer.EncodePrompt(items[i].Context), tokenizer.Encode(items[i].Continuation));
        }
        var scores = ScoreTokens(model, requests, batchSize, tokenizer.PadId);
        return scores.Select((s, i) => s with { Chars = items[i].Continuation.Length }).ToArray();
    }

    /// <summary>
    /// Scores token-level requests (each context non-empty). <paramref name="padId"/> only fills padding, which is never
    /// read. <see cref="ContinuationScore.Chars"/> is 0.
    /// </summary>
    public static IReadOnlyList<ContinuationScore> ScoreTokens(LanguageModel model,
        IReadOnlyList<(int[] Context, int[] Continuation)> items, int batchSize = DefaultBatchSize, int padId = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        int maxLen = model.Config.MaxSeqLen;
        var windows = new List<Window>();
        for (int i = 0; i < items.Count; i++)
        {
            var (ctx, cont) = items[i];
            if (ctx is null || ctx.Length == 0) throw new ArgumentException($"request {i}: the context must hold at least one token", nameof(items));
            ArgumentNullException.ThrowIfNull(cont);
            AddWindows(windows, i, ctx, cont, maxLen);
        }

        var logProb = new double[items.Count];
        var tokens = new int[items.Count];
        var greedy = Enumerable.Repeat(true, items.Count).ToArray();
        var device = model.parameters().First().device;
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = torch.no_grad();
            foreach (var batch in windows.OrderByDescending(w => w.Tokens.Length).Chunk(batchSize))
            {
                using var scope = torch.NewDisposeScope();
                var (sums, allGreedy) = ScoreBatch(model, batch, padId, device);
                for (int r = 0; r < batch.Length; r++)
                {
                    var w = batch[r];
                    logProb[w.Item] += sums[r];
                    tokens[w.Item] += w.Tokens.Length - w.ContextLength;
                    greedy[w.Item] &= allGreedy[r];
                }
            }
        }
        finally
        {
            if (wasTraining) model.train();
        }
        return Enumerable.Range(0, items.Count).Select(i => new ContinuationScore(logProb[i], tokens[i], 0, greedy[i])).ToArray();
    }

    /// <summary>One forward window: <see cref="Tokens"/> = context part ++ scored part; scored tokens start at
    /// <see cref="ContextLength"/>.</summary>
    readonly record struct Window(int Item, int[] Tokens, int ContextLength);

    static void AddWindows(List<Window> windows, int item, int[] ctx, int[] cont, int maxLen)
    {
        if (cont.Length == 0) return;
        int piece = Math.Max(1, maxLen / 2);
        if (ctx.Length + cont.Length <= maxLen || cont.Length <= piece)
        {
            windows.Add(Build(item, ctx, ctx.Length, cont, 0, cont.Length, maxLen));
            return;
        }
        for (int start = 0; start < cont.Length; start += piece)
            windows.Add(Build(item, ctx, ctx.Length, cont, start, Math.Min(piece, cont.Length - start), maxLen));
    }

    // History = ctx ++ cont[..start], truncated on the left to leave room for cont[start..start+count].
    static Window Build(int item, int[] ctx, int ctxLen, int[] cont, int start, int count, int maxLen)
    {
        int historyLen = ctxLen + start;
        int keep = Math.Min(historyLen, maxLen - count);
        var tokens = new int[keep + count];
        for (int j = 0; j < keep; j++)
        {
            int h = historyLen - keep + j;
            tokens[j] = h < ctxLen ? ctx[h] : cont[h - ctxLen];
        }
        Array.Copy(cont, start, tokens, keep, count);
        return new Window(item, tokens, keep);
    }

    static (double[] Sums, bool[] Greedy) ScoreBatch(LanguageModel model, Window[] batch, int padId, Device device)
    {
        int b = batch.Length, len = batch.Max(w => w.Tokens.Length);
        var flat = new long[b * len];
        var mask = new bool[b * (len - 1)];
        for (int r = 0; r < b; r++)
        {
            var w = batch[r];
            for (int t = 0; t < len; t++) flat[r * len + t] = t < w.Tokens.Length ? w.Tokens[t] : padId;
            // Position t predicts token t + 1; the scored tokens are ContextLength .. Length - 1.
            for (int t = w.ContextLength - 1; t < w.Tokens.Length - 1; t++) mask[r * (len - 1) + t] = true;
        }
        var input = torch.tensor(flat, [b, len], device: device);                  // (B, L)
        var logits = model.forward(input).narrow(1, 0, len - 1);                    // (B, L-1, V)
        var targets = input.narrow(1, 1, len - 1);                                  // (B, L-1)
        var logp = F.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);   // (B, L-1)
        var m = torch.tensor(mask, [b, len - 1], device: device);
        var sums = logp.to(ScalarType.Float64).masked_fill(m.logical_not(), 0).sum(1).cpu().data<double>().ToArray();
        var hit = logits.argmax(-1).eq(targets).logical_or(m.logical_not()).all(1).cpu().data<bool>().ToArray();
        return (sums, hit);
    }
}
