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
/// <param name="StopAtEos">Stop a sequence at the end-of-text token.</param>
/// <param name="StopAtNewline">Stop a sequence once its text contains a newline (short answers).</param>
public sealed record SamplingOptions(int MaxTokens = 64, double Temperature = 0, double TopP = 1.0, int Seed = 1,
    bool StopAtEos = true, bool StopAtNewline = false);

/// <summary>
/// Autoregressive decoding without a KV cache (the models are tiny). Batches group prompts of equal token length,
/// so no attention mask or position offsets are needed and every row decodes exactly as it would alone.
/// </summary>
public static class TextGenerator
{
    /// <summary>Continuation of one prompt (the prompt itself excluded).</summary>
    public static string Generate(LanguageModel model, ByteLevelBpeTokenizer tokenizer, string prompt, SamplingOptions options) =>
        GenerateBatch(model, tokenizer, [prompt], options)[0];

    /// <summary>Continuations of many prompts, in input order.</summary>
    public static IReadOnlyList<string> GenerateBatch(LanguageModel model, ByteLevelBpeTokenizer tokenizer, IReadOnlyList<string> prompts,
        SamplingOptions options, int maxBatch = 64)
    {
        var results = new string[prompts.Count];
        var device = model.parameters().First().device;
        var gen = new torch.Generator((ulong)options.Seed);
        var encoded = prompts.Select(p => { var ids = tokenizer.Encode(p); return ids.Length == 0 ? [tokenizer.EosId] : ids; }).ToArray();
        int maxLen = model.Config.MaxSeqLen;
        foreach (var group in Enumerable.Range(0, prompts.Count).GroupBy(i => encoded[i].Length))
        {
            foreach (var chunk in group.Chunk(maxBatch))
            {
                var seqs = chunk.Select(i => encoded[i].ToList()).ToArray();
                var outIds = chunk.Select(_ => new List<int>()).ToArray();
                var active = Enumerable.Repeat(true, chunk.Length).ToArray();
                using (torch.no_grad())
                {
                    model.eval();
                    for (int step = 0; step < options.MaxTokens && active.Any(a => a); step++)
                    {
                        using var scope = torch.NewDisposeScope();
                        int len = seqs[0].Count;
                        int start = Math.Max(0, len - maxLen);
                        var flat = seqs.SelectMany(s => s.Skip(start).Select(x => (long)x)).ToArray();
                        var input = torch.tensor(flat, [chunk.Length, len - start], device: device);
                        var logits = model.forward(input).select(1, -1).to(ScalarType.Float32);   // (b, V)
                        var next = Pick(logits, options, gen).cpu().data<long>().ToArray();
                        for (int r = 0; r < chunk.Length; r++)
                        {
                            seqs[r].Add((int)next[r]);      // every row advances so lengths stay equal
                            if (!active[r]) continue;
                            if (options.StopAtEos && next[r] == tokenizer.EosId) { active[r] = false; continue; }
                            outIds[r].Add((int)next[r]);
                            // A newline is one byte, so it is never split across tokens: checking the new token suffices.
                            if (options.StopAtNewline && tokenizer.Decode([(int)next[r]]).Contains('\n')) active[r] = false;
                        }
                    }
                }
                for (int r = 0; r < chunk.Length; r++)
                {
                    string text = tokenizer.Decode(outIds[r]);
                    if (options.StopAtNewline && text.IndexOf('\n') is int nl and >= 0) text = text[..nl];
                    results[chunk[r]] = text;
                }
            }
        }
        return results;
    }

    static Tensor Pick(Tensor logits, SamplingOptions o, torch.Generator gen)
    {
        if (o.Temperature <= 0) return logits.argmax(-1);
        var probs = F.softmax(logits / o.Temperature, -1);
        if (o.TopP < 1.0)
        {
            var (sorted, idx) = probs.sort(-1, descending: true);
            var cum = sorted.cumsum(-1);
            var drop = (cum - sorted) > o.TopP;                 // keep the smallest prefix whose mass reaches top_p
            sorted = sorted.masked_fill(drop, 0);
            probs = torch.zeros_like(probs).scatter(-1, idx, sorted);
        }
        return torch.multinomial(probs, 1, generator: gen).squeeze(-1);
    }
}
