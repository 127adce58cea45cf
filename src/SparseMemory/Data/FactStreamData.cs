using SparseMemory.Data.Facts;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Data;

/// <summary>
/// The finetuning stream: step s trains on fact ⌊s / steps_per_item⌋ (wrapping around), as a batch of its N
/// paraphrases, each <c>&lt;eos&gt; text &lt;eos&gt;</c>, right-padded to the longest in the batch (as the paper pads
/// paraphrases to a common length). Padding has target −1 (no loss) and is false in the valid mask, so it is never
/// counted as a memory access.
/// </summary>
public sealed class FactStreamData : IBatchSource
{
    readonly IReadOnlyList<Fact> _facts;
    readonly ITokenizer _tok;
    readonly int _paraphrases, _stepsPerItem, _seed, _maxLen;
    readonly bool _freshEachStep;
    readonly ParaphraseOptions _options;

    /// <summary>Creates the stream.</summary>
    /// <param name="freshEachStep">Draw new lines on every step of a fact (else its first batch repeats for each of its steps).</param>
    public FactStreamData(IReadOnlyList<Fact> facts, ITokenizer tokenizer, int paraphrases, int stepsPerItem, int seed,
        bool allowQuestionForm, int maxLen, double? questionFraction = null, QuestionSource questions = QuestionSource.Generated,
        bool freshEachStep = false)
    {
        if (facts.Count == 0) throw new ArgumentException("the fact stream is empty");
        _facts = facts; _tok = tokenizer; _paraphrases = paraphrases; _stepsPerItem = stepsPerItem; _seed = seed; _maxLen = maxLen;
        _freshEachStep = freshEachStep;
        _options = new ParaphraseOptions(allowQuestionForm, questionFraction, questions);
    }

    /// <summary>Facts in the stream.</summary>
    public IReadOnlyList<Fact> Facts => _facts;

    /// <summary>Options the lines are drawn with.</summary>
    public ParaphraseOptions Options => _options;

    /// <summary>The fact trained at <paramref name="step"/>.</summary>
    public Fact FactAt(int step) => _facts[step / _stepsPerItem % _facts.Count];

    /// <summary>The texts of step <paramref name="step"/>'s batch.</summary>
    public IReadOnlyList<string> Texts(int step) => Lines(step).Select(l => l.Text).ToArray();

    /// <summary>The lines of step <paramref name="step"/>'s batch, with what each is and where it came from.</summary>
    public IReadOnlyList<TrainingLine> Lines(int step)
    {
        int epoch = step / _stepsPerItem / _facts.Count;
        int seed = _freshEachStep ? SparseMemory.Config.SeedMix.Mix(_seed, epoch, step % _stepsPerItem) : _seed + epoch;
        return FactParaphraser.Lines(FactAt(step), _paraphrases, seed, _options);
    }

    /// <inheritdoc/>
    public TrainingBatch Get(int step) => Pad(Texts(step).Select(t => _tok.Encode(t)).ToList(), _tok, _maxLen);

    /// <summary>Right-pads token sequences into a batch (<see cref="FactBatches.Pad"/>, the one layout).</summary>
    public static TrainingBatch Pad(IReadOnlyList<int[]> seqs, ITokenizer tok, int maxLen) => FactBatches.Pad(seqs, tok, maxLen);
}
