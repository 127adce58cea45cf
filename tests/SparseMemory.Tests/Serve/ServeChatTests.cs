using System.Text.Json.Nodes;
using SparseMemory.Checkpoints;
using SparseMemory.Data;
using SparseMemory.Data.Chat;
using SparseMemory.Model;
using SparseMemory.Runs.Serve;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Serve;

/// <summary>
/// <c>POST /v1/chat/completions</c> (docs/serve.md#chat-completions): the messages rendered with the model's chat
/// template, the plain transcript without one, a refused or unsupported template, several end-of-sequence ids, streaming
/// and bad requests. The template models are the serve fixture's checkpoint with a Hugging Face
/// <c>tokenizer_info.json</c> written beside it (its tokenizer.json is already in the Hugging Face format).
/// </summary>
public sealed class ServeChatTests(ServeFixture fx, ITestOutputHelper output) : IClassFixture<ServeFixture>
{
    /// <summary>ChatML with a default system turn, refusing a conversation that starts with the assistant.</summary>
    const string ChatMl =
        "{%- if messages[0].role == 'assistant' %}{{ raise_exception('The conversation must not start with the assistant.') }}{% endif %}\n" +
        "{%- for message in messages %}\n" +
        "{%- if loop.first and message.role != 'system' %}{{ '<|im_start|>system\\nYou are a careful assistant.<|im_end|>\\n' }}{% endif %}\n" +
        "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}\n" +
        "{%- endfor %}\n" +
        "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}\n";

    const string Rendered = "<|im_start|>system\nYou are a careful assistant.<|im_end|>\n<|im_start|>user\nWho is Ada?<|im_end|>\n<|im_start|>assistant\n";

    static readonly object[] Question = [new { role = "user", content = "Who is Ada?" }];

    /// <summary>
    /// A copy of the fixture's checkpoint with a context of 256 (rotary positions: no weight depends on it) whose
    /// tokenizer, with a template, is read as a Hugging Face one with that template and these end ids.
    /// </summary>
    string ChatModel(string? template, params int[] eosIds)
    {
        string dir = Path.Combine(fx.Root, "chat-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        foreach (string f in Directory.GetFiles(fx.BaseDir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        string cfg = Path.Combine(dir, Checkpoint.ConfigFile);
        var tree = JsonNode.Parse(File.ReadAllText(cfg))!;
        tree["model"]!["max_seq_len"] = 256;
        File.WriteAllText(cfg, tree.ToJsonString());
        if (template is not null) WriteInfo(dir, template, eosIds);
        return dir;
    }

    static void WriteInfo(string dir, string template, int[] eosIds) =>
        RunFolder.SaveConfig(new HfTokenizerInfo { EosId = eosIds[0], EosIds = eosIds.Length > 1 ? eosIds : null, ChatTemplate = template, EosToken = "<|endoftext|>" },
            Path.Combine(dir, Checkpoint.TokenizerInfoFile));

    static string Content(JsonNode? json, int i = 0) => json!["choices"]![i]!["message"]!["content"]!.GetValue<string>();

    [Fact]
    public async Task Chat_renders_the_models_template_and_stops_at_the_second_end_id()
    {
        string dir = ChatModel(ChatMl, 256);
        // The template's prompt, continued greedily by the model itself with no end id: the second end id is picked
        // from that continuation, so stopping there is the list's doing.
        var loaded = Checkpoint.Load(dir);
        var tok = Assert.IsType<HfTokenizer>(loaded.Tokenizer);
        var chat = ChatPrompt.For(tok);
        Assert.Equal(ChatPrompt.TemplateKind, chat.Kind);
        Assert.Equal(Rendered, chat.Render([new ChatMessage("user", "Who is Ada?")]));
        int[] promptIds = tok.Encode(Rendered);
        Assert.Equal(promptIds, chat.Encode(Rendered));                        // nothing added: no BOS, as apply_chat_template
        // Sampled with a seed (the tiny model's greedy text repeats one token); the service samples choice i with seed + i.
        var sampled = new SamplingOptions(MaxTokens: 10, Temperature: 1, Seed: 3);
        var free = TextGenerator.GenerateIds(loaded.Model, [promptIds], sampled with { StopAtEos = false })[0];
        loaded.Model.Dispose();
        int cut = Enumerable.Range(1, free.Length - 1).First(i => free[i] != 256 && !free[..i].Contains(free[i]) && !free[..i].Contains(256));
        output.WriteLine($"free: [{string.Join(", ", free)}], second end id {free[cut]} at {cut}");
        WriteInfo(dir, ChatMl, [256, free[cut]]);

        await using var h = await ServeHost.StartAsync(fx.Options() with { ModelDir = dir });
        Assert.Equal(ChatPrompt.TemplateKind, h.Service.Chat.Kind);
        var (status, json) = await h.PostAsync("/v1/chat/completions", new { messages = Question, max_tokens = 10, temperature = 1.0, seed = 3 }, token: null);
        output.WriteLine(json?.ToJsonString());
        Assert.Equal(200, status);
        Assert.Equal("chat.completion", json!["object"]!.GetValue<string>());
        Assert.StartsWith("chatcmpl-", json["id"]!.GetValue<string>());
        Assert.Equal("assistant", json["choices"]![0]!["message"]!["role"]!.GetValue<string>());
        Assert.Equal(tok.Decode(free[..cut]), Content(json));
        Assert.Equal("stop", json["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(promptIds.Length, json["usage"]!["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(cut, json["usage"]!["completion_tokens"]!.GetValue<int>());
        // /v1/completions with the rendered text as its prompt answers the same (it stops at the second id too).
        var (_, plain) = await h.PostAsync("/v1/completions", new { prompt = Rendered, max_tokens = 10, temperature = 1.0, seed = 3 }, token: null);
        Assert.Equal(Content(json), plain!["choices"]![0]!["text"]!.GetValue<string>());
        Assert.Equal(json["usage"]!.ToJsonString(), plain["usage"]!.ToJsonString());

        // Greedy n = 2: the same message twice. Streamed (sampled, n = 2): per choice the role, the pieces that add up to
        // the plain answer's content, the finish; then the usage.
        var (_, greedy) = await h.PostAsync("/v1/chat/completions", new { messages = Question, max_completion_tokens = 10, n = 2 }, token: null);
        Assert.Equal(Content(greedy), Content(greedy, 1));
        var (_, two) = await h.PostAsync("/v1/chat/completions", new { messages = Question, max_tokens = 10, n = 2, temperature = 1.0, seed = 3 }, token: null);
        Assert.Equal(Content(json), Content(two));
        using var res = await h.Client.SendAsync(h.Request(HttpMethod.Post, "/v1/chat/completions",
            new { messages = Question, max_tokens = 10, n = 2, temperature = 1.0, seed = 3, stream = true, stream_options = new { include_usage = true } }, token: null),
            HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", res.Content.Headers.ContentType?.MediaType);
        var events = (await res.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(b => b["data: ".Length..]).ToList();
        output.WriteLine(string.Join("\n", events));
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>()));
        Assert.Equal(two!["usage"]!.ToJsonString(), chunks[^1]["usage"]!.ToJsonString());
        Assert.Empty(chunks[^1]["choices"]!.AsArray());
        for (int i = 0; i < 2; i++)
        {
            var mine = chunks[..^1].Select(c => c["choices"]!.AsArray().Single()!).Where(c => c["index"]!.GetValue<int>() == i).ToList();
            Assert.Equal("assistant", mine[0]["delta"]!["role"]!.GetValue<string>());
            Assert.All(mine[..^1], c => Assert.Null(c["finish_reason"]));
            Assert.Equal(two["choices"]![i]!["finish_reason"]!.GetValue<string>(), mine[^1]["finish_reason"]!.GetValue<string>());
            Assert.Equal("{}", mine[^1]["delta"]!.ToJsonString());
            Assert.Equal(Content(two, i), string.Concat(mine.Select(c => c["delta"]!["content"]?.GetValue<string>() ?? "")));
        }

        // The template's own refusal is a 400 carrying its message.
        var (refused, error) = await h.PostAsync("/v1/chat/completions",
            new { messages = new object[] { new { role = "assistant", content = "Hello." }, new { role = "user", content = "Hi" } } }, token: null);
        Assert.Equal(400, refused);
        Assert.Equal("chat_template_refused", error!["error"]!["code"]!.GetValue<string>());
        Assert.Equal("messages", error["error"]!["param"]!.GetValue<string>());
        Assert.Contains("The conversation must not start with the assistant.", error["error"]!["message"]!.GetValue<string>());

        var doc = (await h.Contract.ContractAsync()).Document;
        var op = doc["paths"]!["/v1/chat/completions"]!["post"]!;
        Assert.Equal(new[] { "200", "400", "404", "413", "415", "500", "503" }, op["responses"]!.AsObject().Select(kv => kv.Key).Order());
        Assert.Contains("text/event-stream", op["responses"]!["200"]!["content"]!.AsObject().Select(kv => kv.Key));
    }

    [Fact]
    public async Task Without_a_template_the_messages_become_a_plain_transcript()
    {
        string dir = ChatModel(null);
        await using var h = await ServeHost.StartAsync(fx.Options() with { ModelDir = dir });
        Assert.Equal(ChatPrompt.PlainKind, h.Service.Chat.Kind);
        var messages = new object[] { new { role = "developer", content = "Be brief." }, new { role = "user", content = new object[] { new { type = "text", text = "Who is " }, new { type = "text", text = "Ada?" } } } };
        var (status, json) = await h.PostAsync("/v1/chat/completions", new { messages, max_tokens = 6 }, token: null);
        output.WriteLine(json?.ToJsonString());
        Assert.Equal(200, status);
        const string transcript = "System: Be brief.\nUser: Who is Ada?\nAssistant:";
        var loaded = Checkpoint.Load(dir);
        using var model = loaded.Model;
        int[] ids = loaded.Tokenizer.EncodePrompt(transcript);
        var expected = TextGenerator.GenerateIds(model, [ids], new SamplingOptions(MaxTokens: 6), loaded.Tokenizer.EosIds)[0];
        Assert.Equal(ids.Length, json!["usage"]!["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(loaded.Tokenizer.Decode(expected), Content(json));
        Assert.Equal(expected.Length, json["usage"]!["completion_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task An_unsupported_template_is_refused_naming_the_construct_and_completions_still_work()
    {
        string dir = ChatModel("{% macro turn(m) %}{{ m.content }}{% endmacro %}{% for m in messages %}{{ turn(m) }}{% endfor %}", 256);
        await using var h = await ServeHost.StartAsync(fx.Options() with { ModelDir = dir });
        Assert.Equal(ChatPrompt.UnsupportedKind, h.Service.Chat.Kind);
        Assert.Contains("'{% macro %}' is not supported", h.Service.Chat.Problem);
        var (status, json) = await h.PostAsync("/v1/chat/completions", new { messages = Question }, token: null);
        Assert.Equal(400, status);
        Assert.Equal("chat_template_unsupported", json!["error"]!["code"]!.GetValue<string>());
        Assert.Contains("line 1: the statement '{% macro %}' is not supported", json["error"]!["message"]!.GetValue<string>());
        var (ok, _) = await h.PostAsync("/v1/completions", new { prompt = "Ada lives in", max_tokens = 3 }, token: null);
        Assert.Equal(200, ok);
    }

    [Fact]
    public async Task Bad_chat_requests_are_openai_shaped_400s_naming_the_field()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var cases = new (string Body, int Status, string? Param, string Says)[]
        {
            ("{}", 400, "messages", "'messages' is required"),
            ("{\"messages\": []}", 400, "messages", "empty"),
            ("{\"messages\": \"hi\"}", 400, "messages", "must be an array"),
            ("{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}", 400, "messages[0].role", "no tool messages"),
            ("{\"messages\": [{\"role\": \"user\"}]}", 400, "messages[0].content", "is required"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400, "messages[0].content", "must be a string"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]}", 400, "messages[0].content", "only text"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"x\", \"name\": \"ada\"}]}", 400, "messages[0].name", "not supported"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 3, \"max_completion_tokens\": 4}", 400, "max_tokens", "not two different values"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_completion_tokens\": 0}", 400, "max_completion_tokens", "between 1 and"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"logprobs\": true}", 400, "logprobs", "not supported"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": [{\"type\": \"function\"}]}", 400, "tools", "not supported"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"prompt\": \"x\"}", 400, "prompt", "unknown field 'prompt'"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"model\": \"other\"}", 404, "model", "does not exist"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"n\": 9}", 400, "n", "between 1 and 8"),
        };
        foreach (var (body, expectedStatus, param, says) in cases)
        {
            var (status, json) = await h.PostAsync("/v1/chat/completions", body, token: null);
            output.WriteLine($"{body} → {status} {json?.ToJsonString()}");
            Assert.Equal(expectedStatus, status);
            Assert.Equal(param, json!["error"]!["param"]?.GetValue<string>());
            Assert.Contains(says, json["error"]!["message"]!.GetValue<string>());
        }
        // The neutral values of unimplemented fields are accepted.
        var (fine, _) = await h.PostAsync("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 2, \"logprobs\": false, " +
            "\"tools\": [], \"tool_choice\": \"none\", \"response_format\": {\"type\": \"text\"}, \"frequency_penalty\": 0, \"user\": \"u\", \"top_logprobs\": null}", token: null);
        Assert.Equal(200, fine);
        // A conversation longer than the context is refused, not cut.
        string longText = string.Join(" ", Enumerable.Repeat("Ada Lovelace lives in Arden.", 60));
        var (tooLong, tl) = await h.PostAsync("/v1/chat/completions", new { messages = new object[] { new { role = "user", content = longText } } }, token: null);
        Assert.Equal(400, tooLong);
        Assert.Equal("context_length_exceeded", tl!["error"]!["code"]!.GetValue<string>());
    }
}
