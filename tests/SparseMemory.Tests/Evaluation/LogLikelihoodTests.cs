using SparseMemory.Config;
using SparseMemory.Data;
using SparseMemory.Evaluation;
using SparseMemory.Model;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SparseMemory.Tests.Evaluation;

public sealed class LogLikelihoodTests : IDisposable
{
    const int MaxSeqLen = 32;

    // Tiny forwards gain nothing from a second thread, and on the shared 2-core machine two threads spin against other
    // torch processes (measured 7-30x slower); tests run one class at a time, so the setting is restored safely.
    readonly int _threads = torch.get_num_threads();

    public LogLikelihoodTests() => torch.set_num_threads(1);

    public void Dispose() => torch.set_num_threads(_threads);

    static LanguageModel RandomModel(int seed, ScalarType dtype)
    {
        torch.manual_seed(seed);
        var model = new LanguageModel(Fixtures.TinyConfig("unused").Model with { MaxSeqLen = MaxSeqLen });
        model.to(dtype);
        model.eval();
        return model;
    }

    /// <summary>
    /// Slow reference, one token at a time: token p of context ++ continuation is predicted by a separate unpadded
    /// forward of tokens[start .. p), start = max(0, end − M), where end is the end of the piece holding p (the whole
    /// sequence when it fits or the continuation is at most M/2 tokens, else consecutive M/2-token pieces).
    /// log_softmax in float64, summed in a loop.
    /// </summary>
    static (double LogProb, int Tokens, bool Greedy) Reference(LanguageModel model, int[] ctx, int[] cont)
    {
        int m = model.Config.MaxSeqLen, piece = m / 2;
        var all = ctx.Concat(cont).ToArray();
        bool single = ctx.Length + cont.Length <= m || cont.Length <= piece;
        double sum = 0;
        bool greedy = true;
        using var _ = torch.no_grad();
        for (int j = 0; j < cont.Length; j++)
        {
            using var scope = torch.NewDisposeScope();
            int p = ctx.Length + j;
            int end = single ? all.Length : ctx.Length + Math.Min(cont.Length, (j / piece + 1) * piece);
            int start = Math.Max(0, end - m);
            var input = torch.tensor(all[start..p].Select(x => (long)x).ToArray(), [1, p - start]);
            var last = model.forward(input)[0, -1].to(ScalarType.Float64);          // (V)
            var logp = F.log_softmax(last, 0);
            sum += logp[all[p]].item<double>();
            greedy &= last.argmax().item<long>() == all[p];
        }
        return (sum, cont.Length, greedy);
    }

    static (int[] Context, int[] Continuation)[] RandomRequests(int seed, int vocab)
    {
        var rng = new Random(seed);
        int[] Ids(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray();
        // short and long contexts (left-truncated past M = 32), continuations of 1 token up to several pieces (M/2 = 16)
        (int Ctx, int Cont)[] shapes = [(1, 1), (3, 2), (10, 5), (30, 2), (40, 1), (5, 17), (20, 17), (1, 31), (12, 40), (2, 70), (31, 1), (6, 0)];
        return shapes.Select(s => (Ids(s.Ctx), Ids(s.Cont))).ToArray();
    }

    [Fact]
    public void Batched_scores_match_the_float64_reference()
    {
        var model = RandomModel(11, ScalarType.Float64);
        var requests = RandomRequests(5, model.Config.VocabSize);
        var reference = requests.Select(r => Reference(model, r.Context, r.Continuation)).ToArray();
        foreach (int batchSize in new[] { 1, 3, 16 })    // one window per pass, mixed padding, everything in one pass
        {
            var batched = LogLikelihood.ScoreTokens(model, requests, batchSize);
            Assert.Equal(requests.Length, batched.Count);
            for (int i = 0; i < requests.Length; i++)
            {
                var (lp, n, greedy) = reference[i];
                Assert.Equal(n, batched[i].Tokens);
                Assert.True(Math.Abs(lp - batched[i].LogProb) < 1e-9, $"batch {batchSize}, request {i}: batched {batched[i].LogProb} vs reference {lp}");
                Assert.Equal(greedy, batched[i].IsGreedy);
            }
            Assert.Equal(0, batched[^1].LogProb);             // empty continuation
        }
    }

    [Fact]
    public void Float32_model_agrees_with_its_float64_copy()
    {
        var model32 = RandomModel(12, ScalarType.Float32);
        var model64 = RandomModel(12, ScalarType.Float64);
        var requests = RandomRequests(6, model32.Config.VocabSize);
        var a = LogLikelihood.ScoreTokens(model32, requests, 4);
        var b = LogLikelihood.ScoreTokens(model64, requests, 4);
        for (int i = 0; i < requests.Length; i++)
            Assert.True(Math.Abs(a[i].LogProb - b[i].LogProb) < 1e-3 * Math.Max(1, Math.Abs(b[i].LogProb)), $"request {i}: {a[i].LogProb} vs {b[i].LogProb}");
    }

    [Fact]
    public void Greedy_continuation_is_recognised()
    {
        var model = RandomModel(13, ScalarType.Float64);
        int[] ctx = [5, 9, 2];
        var next = new List<int>(ctx);
        using (torch.no_grad())
            for (int k = 0; k < 3; k++)
                next.Add((int)model.forward(torch.tensor(next.Select(x => (long)x).ToArray(), [1, next.Count]))[0, -1].argmax().item<long>());
        var greedyCont = next.Skip(ctx.Length).ToArray();
        var other = greedyCont.Select(t => (t + 1) % model.Config.VocabSize).ToArray();
        var s = LogLikelihood.ScoreTokens(model, [(ctx, greedyCont), (ctx, other)]);
        Assert.True(s[0].IsGreedy);
        Assert.False(s[1].IsGreedy);
        Assert.True(s[0].LogProb > s[1].LogProb);
    }

    [Fact]
    public void Text_requests_encode_context_and_continuation_separately()
    {
        var tokenizer = ByteLevelBpeTokenizer.Train(["Question: where does Ada live?\nAnswer: Arden\n", "Bela works in Cove since 1950."], 300);
        var model = RandomModel(14, ScalarType.Float64);
        (string, string)[] items = [("Question: where does Ada live?\nAnswer:", " Arden"), ("", "Bela works in Cove."), ("Bela works", " in Cove since 1950.")];
        var scores = LogLikelihood.ScoreContinuations(model, tokenizer, items, batchSize: 2);
        for (int i = 0; i < items.Length; i++)
        {
            var (ctx, cont) = items[i];
            var ids = tokenizer.Encode(ctx);
            var expected = LogLikelihood.ScoreTokens(model, [(ids.Length == 0 ? [tokenizer.EosId] : ids, tokenizer.Encode(cont))])[0];
            Assert.Equal(expected.Tokens, scores[i].Tokens);
            Assert.Equal(cont.Length, scores[i].Chars);
            Assert.True(Math.Abs(expected.LogProb - scores[i].LogProb) < 1e-9);
        }
    }

    [Fact]
    public void Empty_token_context_is_rejected()
    {
        var model = RandomModel(15, ScalarType.Float32);
        Assert.Throws<ArgumentException>(() => LogLikelihood.ScoreTokens(model, [([], [1, 2])]));
    }
}
