using SparseMemory.Checkpoints;
using SparseMemory.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Evaluation;

/// <summary>
/// The model's logits on given token sequences, written as safetensors so another implementation (the PyTorch model in
/// <c>bench/pytorch/</c>) can be checked against ours on the same checkpoint. Sequence i is stored as
/// <c>tokens.{i}</c> (I64 [T]) and <c>logits.{i}</c> (F32 [T, V]); the metadata has <c>count</c>, <c>vocab_size</c>,
/// <c>model_sha256</c> (of <c>model.safetensors</c>) and, where a sequence came from text, <c>text.{i}</c>.
/// </summary>
/// <remarks>
/// Each sequence runs alone (batch 1, no padding), in eval mode under <c>no_grad</c>, through
/// <see cref="LanguageModel.forward"/>: the same forward pass as training and generation, with the managed product-key
/// search on the CPU.
/// </remarks>
public static class LogitsDump
{
    /// <summary>One input sequence: token ids and, when it was encoded from text, the text.</summary>
    /// <param name="Tokens">Token ids, each in [0, V).</param>
    /// <param name="Text">The text the ids were encoded from, or null.</param>
    public sealed record Input(int[] Tokens, string? Text);

    /// <summary>
    /// Computes the logits of every input with <paramref name="model"/> and writes them atomically to
    /// <paramref name="path"/>. An empty sequence, one longer than <c>model.max_seq_len</c> or an id outside [0, V) is an
    /// <see cref="ArgumentException"/>, before anything is computed.
    /// </summary>
    public static void Write(string path, LanguageModel model, IReadOnlyList<Input> inputs, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputs);
        Validate(model, inputs);
        var device = model.parameters().First().device;
        var tensors = new List<(string, Tensor)>();
        var meta = new Dictionary<string, string>
        {
            ["format"] = "pt", ["library"] = "SparseMemory", ["content"] = "logits",
            ["count"] = inputs.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["vocab_size"] = model.Config.VocabSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) meta[k] = v;
        using var scope = torch.NewDisposeScope();
        using (torch.no_grad())
        {
            model.eval();
            for (int i = 0; i < inputs.Count; i++)
            {
                var ids = torch.tensor(inputs[i].Tokens.Select(t => (long)t).ToArray(), [1, inputs[i].Tokens.Length], device: device);
                var logits = model.forward(ids).squeeze(0).to(ScalarType.Float32).cpu();           // (T, V)
                tensors.Add(($"tokens.{i}", ids.squeeze(0).cpu()));
                tensors.Add(($"logits.{i}", logits));
                if (inputs[i].Text is { } text) meta[$"text.{i}"] = text;
            }
        }
        SafeTensors.Save(path, tensors, meta);
    }

    static void Validate(LanguageModel model, IReadOnlyList<Input> inputs)
    {
        if (inputs.Count == 0) throw new ArgumentException("no input sequence given (use --text or --tokens)");
        int vocab = model.Config.VocabSize, max = model.Config.MaxSeqLen;
        for (int i = 0; i < inputs.Count; i++)
        {
            var t = inputs[i].Tokens;
            string what = inputs[i].Text is null ? $"token sequence {i + 1}" : $"text {i + 1}";
            if (t.Length == 0) throw new ArgumentException($"{what} is empty (no tokens)");
            if (t.Length > max) throw new ArgumentException($"{what} has {t.Length} tokens; the model takes at most model.max_seq_len = {max}");
            int bad = Array.FindIndex(t, x => x < 0 || x >= vocab);
            if (bad >= 0) throw new ArgumentException($"{what}: token id {t[bad]} at position {bad} is outside [0, {vocab}) (model.vocab_size {vocab})");
        }
    }
}
