using SparseMemory.Data.Facts;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Data;

/// <summary>
/// The finetuning stream's batches: the lines of <see cref="FactStreamData"/> (which holds the paraphrase and seed rules),
/// tokenized and padded by <see cref="Pad"/>, the one batch layout of the project: a tokenizer with a BOS id starts each
/// sequence with it, EOS otherwise, as the native models do.
/// </summary>
public sealed class FactBatches(FactStreamData lines) : IBatchSource
{
    /// <summary>Builds the stream (arguments as <see cref="FactStreamData"/>'s).</summary>
    public static FactBatches Create(IReadOnlyList<Fact> facts, ITokenizer tokenizer, int paraphrases, int stepsPerItem, int seed,
        bool allowQuestionForm, int maxLen, double? questionFraction = null, QuestionSource questions = QuestionSource.Generated,
        bool freshEachStep = false) =>
        new(new FactStreamData(facts, tokenizer, paraphrases, stepsPerItem, seed, allowQuestionForm, maxLen,
            questionFraction, questions, freshEachStep));

    /// <summary>The line source.</summary>
    public FactStreamData Source => lines;
    /// <summary>Facts in the stream.</summary>
    public IReadOnlyList<Fact> Facts => lines.Facts;
    /// <summary>Options the lines are drawn with.</summary>
    public ParaphraseOptions Options => lines.Options;
    /// <summary>The fact trained at <paramref name="step"/>.</summary>
    public Fact FactAt(int step) => lines.FactAt(step);
    /// <summary>The texts of step <paramref name="step"/>'s batch.</summary>
    public IReadOnlyList<string> Texts(int step) => lines.Texts(step);
    /// <summary>The lines of step <paramref name="step"/>'s batch.</summary>
    public IReadOnlyList<TrainingLine> Lines(int step) => lines.Lines(step);

    /// <inheritdoc/>
    public TrainingBatch Get(int step) => lines.Get(step);

    /// <summary>
    /// Right-pads token sequences into a batch: each becomes <c>start ids eos</c> (start = BOS when the tokenizer has
    /// one, else EOS), cut to <paramref name="maxLen"/> + 1 tokens; inputs drop the last token, targets the first;
    /// padding columns hold the pad id, target −1 and are false in the valid mask.
    /// </summary>
    public static TrainingBatch Pad(IReadOnlyList<int[]> seqs, ITokenizer tok, int maxLen)
    {
        int start = tok.StartId();
        var full = seqs.Select(s => new[] { start }.Concat(s).Append(tok.EosId).Take(maxLen + 1).ToArray()).ToList();
        int t = full.Max(s => s.Length) - 1;
        int b = full.Count;
        var x = new long[b * t];
        var y = new long[b * t];
        var m = new bool[b * t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++)
            {
                bool inside = j < full[i].Length - 1;
                x[i * t + j] = inside ? full[i][j] : tok.PadId;
                y[i * t + j] = inside ? full[i][j + 1] : -1;
                m[i * t + j] = inside;
            }
        return new TrainingBatch(torch.tensor(x, [b, t]), torch.tensor(y, [b, t]), torch.tensor(m, [b, t]));
    }
}
