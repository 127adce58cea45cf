namespace SparseMemory.Data.Chat;

/// <summary>
/// How a conversation becomes a model's prompt (docs/own-model.md#chat-templates), for <c>/v1/chat/completions</c> and
/// <c>smf generate --chat</c>:
/// <list type="bullet">
/// <item><b>template</b>: the model has a chat template (<c>tokenizer_info.json</c> of an imported model) that this
/// interpreter supports. It is rendered with <c>add_generation_prompt</c> true and the tokenizer's <c>bos_token</c> and
/// <c>eos_token</c>, and the text is encoded as Hugging Face's <c>apply_chat_template</c> encodes it: special tokens
/// written in it (<c>&lt;|im_start|&gt;</c>, the BOS text) become their ids and nothing else is added.</item>
/// <item><b>plain</b>: the model has no template (native runs, or an imported model without one): each message on
/// its own line as "Role: content", then "Assistant:" (<see cref="PlainTemplate"/>), encoded as any prompt (BOS first
/// when the tokenizer adds one).</item>
/// <item><b>unsupported</b>: the model's template uses a construct outside the subset. <see cref="Render"/> refuses
/// with the parse error (serve answers 400) rather than prompting the model in a format it was not tuned for.</item>
/// </list>
/// </summary>
public sealed class ChatPrompt
{
    /// <summary>The plain transcript used when the model has no template.</summary>
    public const string PlainTemplate =
        "{% for message in messages %}{{ message.role | capitalize }}: {{ message.content }}\n{% endfor %}" +
        "{% if add_generation_prompt %}Assistant:{% endif %}";

    /// <summary>The kinds of <see cref="Kind"/>.</summary>
    public const string TemplateKind = "template", PlainKind = "plain", UnsupportedKind = "unsupported";

    static readonly Lazy<ChatTemplate> Plain = new(() => ChatTemplate.Parse(PlainTemplate));

    readonly ITokenizer _tokenizer;
    readonly ChatTemplate? _template;
    readonly string? _bos, _eos;

    ChatPrompt(ITokenizer tokenizer, string kind, ChatTemplate? template, string? problem, string? bos, string? eos)
    {
        _tokenizer = tokenizer;
        Kind = kind;
        _template = template;
        Problem = problem;
        _bos = bos;
        _eos = eos;
    }

    /// <summary><see cref="TemplateKind"/>, <see cref="PlainKind"/> or <see cref="UnsupportedKind"/>.</summary>
    public string Kind { get; }

    /// <summary>Why the model's template cannot be used (with <see cref="UnsupportedKind"/>), else null.</summary>
    public string? Problem { get; }

    /// <summary>The chat format of <paramref name="tokenizer"/>'s model: its template when it has one, else the plain transcript.</summary>
    public static ChatPrompt For(ITokenizer tokenizer)
    {
        if (tokenizer is not HfTokenizer { Info.ChatTemplate: { Length: > 0 } source } hf)
            return new ChatPrompt(tokenizer, PlainKind, Plain.Value, null, null, null);
        string? bos = hf.Info.BosToken ?? (hf.Info.BosId is int b ? hf.IdToToken(b) : null);
        string eos = hf.Info.EosToken ?? hf.IdToToken(hf.EosId);
        try { return new ChatPrompt(tokenizer, TemplateKind, ChatTemplate.Parse(source), null, bos, eos); }
        catch (ChatTemplateException e)
        {
            return new ChatPrompt(tokenizer, UnsupportedKind, null, $"the model's chat template cannot be used: {e.Message}", bos, eos);
        }
    }

    /// <summary>
    /// The prompt text of <paramref name="messages"/>, ready for the assistant's answer. Throws
    /// <see cref="ChatTemplateRaisedException"/> when the template refuses the conversation, and
    /// <see cref="ChatTemplateException"/> when the template is unsupported or fails.
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages)
    {
        if (_template is null) throw new ChatTemplateException(Problem!);
        return _template.Render(messages, addGenerationPrompt: true, _bos, _eos);
    }

    /// <summary>The ids the model reads for a rendered prompt (see the kinds above); never empty.</summary>
    public int[] Encode(string prompt)
    {
        if (Kind == PlainKind) return _tokenizer.EncodePrompt(prompt);
        var ids = _tokenizer.Encode(prompt);
        return ids.Length > 0 ? ids : [_tokenizer.EosId];
    }
}
