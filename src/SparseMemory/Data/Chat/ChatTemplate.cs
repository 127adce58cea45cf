using System.Collections;

namespace SparseMemory.Data.Chat;

/// <summary>
/// A chat template that cannot be used: a construct outside the supported subset or a syntax error (found when it is
/// parsed), or a failure while rendering (an undefined value used, a type error). The message names the line and the
/// construct.
/// </summary>
public class ChatTemplateException(string message) : Exception(message);

/// <summary>The template called <c>raise_exception(message)</c>: it refuses the conversation it was given (serve: HTTP 400 with the message).</summary>
public sealed class ChatTemplateRaisedException(string message) : ChatTemplateException(message);

/// <summary>One message of a conversation: its role (system, user, assistant …) and its text.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// A Hugging Face chat template (Jinja) run by the project's own interpreter of a Jinja subset
/// (docs/own-model.md#chat-templates): text, <c>{{ expr }}</c>, <c>{% if/elif/else %}</c>, <c>{% for %}</c> with
/// <c>loop.*</c>, <c>{% set %}</c> and <c>namespace()</c>, whitespace control, the common operators, filters, tests
/// and string methods, and <c>raise_exception</c>. It parses the whole template up front, so a construct it does not
/// know is an error at <see cref="Parse"/> naming it and its line, never a silently different prompt. Rendering reaches
/// only the values it is given (no host objects), and is bounded in output size and steps.
/// </summary>
public sealed class ChatTemplate
{
    readonly IReadOnlyList<Node> _nodes;

    ChatTemplate(string source, IReadOnlyList<Node> nodes)
    {
        Source = source;
        _nodes = nodes;
    }

    /// <summary>The template's text.</summary>
    public string Source { get; }

    /// <summary>Parses <paramref name="source"/>; a <see cref="ChatTemplateException"/> names the first construct outside the subset or the first syntax error.</summary>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ChatTemplate(source, TemplateParser.Parse(source));
    }

    /// <summary>
    /// Renders a conversation as Hugging Face's <c>apply_chat_template</c> does: <c>messages</c> (each with
    /// <c>role</c> and <c>content</c>), <c>add_generation_prompt</c>, <c>bos_token</c> and <c>eos_token</c> when given
    /// (undefined otherwise), and <c>tools</c> and <c>documents</c> as none.
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? bosToken, string? eosToken)
    {
        var vars = new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => (object?)new Dict { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
            ["tools"] = null,
            ["documents"] = null,
        };
        if (bosToken is not null) vars["bos_token"] = bosToken;
        if (eosToken is not null) vars["eos_token"] = eosToken;
        return TemplateRenderer.Render(_nodes, vars);
    }

    /// <summary>
    /// Renders with any variables: strings, booleans, integers, floating-point numbers, null (none), sequences of these
    /// (lists), string-keyed dictionaries (mappings) and <see cref="ChatMessage"/>s (mappings with role and content).
    /// </summary>
    public string Render(IReadOnlyDictionary<string, object?> variables) =>
        TemplateRenderer.Render(_nodes, variables.ToDictionary(kv => kv.Key, kv => Import(kv.Value, kv.Key)));

    static object? Import(object? v, string path) => v switch
    {
        null or string or bool or long or double => v,
        int i => (long)i,
        float f => (double)f,
        ChatMessage m => new Dict { ["role"] = m.Role, ["content"] = m.Content },
        IEnumerable<KeyValuePair<string, object?>> d => new Dict(d.Select(kv => new KeyValuePair<string, object?>(kv.Key, Import(kv.Value, $"{path}.{kv.Key}")))),
        IEnumerable e => e.Cast<object?>().Select((x, i) => Import(x, $"{path}[{i}]")).ToList(),
        _ => throw new ArgumentException($"{path}: a {v.GetType().Name} cannot be passed to a chat template (strings, numbers, booleans, null, lists and string-keyed dictionaries can)"),
    };
}
