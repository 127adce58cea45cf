namespace SparseMemory.Data;

/// <summary>
/// What the rest of the code needs of a tokenizer: text ↔ ids and the special ids. Two implementations: the native
/// byte-level BPE of <c>smf pretrain</c> (<see cref="ByteLevelBpeTokenizer"/>) and a Hugging Face <c>tokenizer.json</c>
/// of an imported model (<see cref="HfTokenizer"/>).
/// </summary>
public interface ITokenizer
{
    /// <summary>Ids the tokenizer can produce are in [0, VocabSize).</summary>
    int VocabSize { get; }

    /// <summary>End of text: ends a generation, separates documents, ends a training sequence.</summary>
    int EosId { get; }

    /// <summary>
    /// Every id that ends a generation, <see cref="EosId"/> first. A native model has one; an imported model keeps every
    /// id its checkpoint names (Llama 3 instruct: <c>&lt;|end_of_text|&gt;</c> and <c>&lt;|eot_id|&gt;</c>;
    /// docs/own-model.md#end-of-sequence-ids). <see cref="EosId"/> stays the one id that training writes.
    /// </summary>
    IReadOnlyList<int> EosIds { get; }

    /// <summary>Filler id of padding columns (never a target; masked).</summary>
    int PadId { get; }

    /// <summary>
    /// The id every sequence fed to the model starts with, when the model was trained that way (Llama's
    /// <c>&lt;s&gt;</c> / <c>&lt;|begin_of_text|&gt;</c>); null when it expects none (the native models, which start
    /// training sequences with <see cref="EosId"/>).
    /// </summary>
    int? BosId { get; }

    /// <summary>Text → ids, without any special token added around it.</summary>
    int[] Encode(string text);

    /// <summary>Ids → text.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>The vocabulary string of one id (for display: <c>smf finetune --dry-run</c>).</summary>
    string IdToToken(int id);
}

/// <summary>Helpers shared by every <see cref="ITokenizer"/>.</summary>
public static class TokenizerExtensions
{
    /// <summary>
    /// The ids of a prompt or context the model continues: BOS first when the tokenizer has one; otherwise the text's
    /// ids, or [EOS] for an empty text (a model needs at least one input column).
    /// </summary>
    public static int[] EncodePrompt(this ITokenizer tokenizer, string text)
    {
        var ids = tokenizer.Encode(text);
        if (tokenizer.BosId is int bos) return [bos, .. ids];
        return ids.Length == 0 ? [tokenizer.EosId] : ids;
    }

    /// <summary>The id a training sequence starts with: BOS when there is one, else EOS (the native layout).</summary>
    public static int StartId(this ITokenizer tokenizer) => tokenizer.BosId ?? tokenizer.EosId;
}
