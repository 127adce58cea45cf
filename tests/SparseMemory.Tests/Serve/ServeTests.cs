using System.Diagnostics;
using System.Text.Json.Nodes;
using SparseMemory.Data.Facts;
using SparseMemory.Model;
using SparseMemory.Runs.Serve;
using SparseMemory.Serve;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Serve;

/// <summary>smf serve: every endpoint, bad input, auth, learn/undo exactness, conflicts, journal replay (docs/serve.md).</summary>
public sealed class ServeTests(ServeFixture fx, ITestOutputHelper output) : IClassFixture<ServeFixture>
{
    static void SameTable(Tensor expected, Tensor actual, string what)
    {
        using (expected) using (actual) TensorAssert.Identical(expected, actual, what);
    }

    static bool Equal(Tensor a, Tensor b) => TensorAssert.Same(a, b);

    [Fact]
    public async Task Health_stats_learned_page_and_openapi_answer()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var (status, health) = await h.GetAsync("/health");
        Assert.Equal(200, status);
        Assert.Equal("ok", health!["status"]!.GetValue<string>());
        var (s2, stats) = await h.GetAsync("/stats");
        Assert.Equal(200, s2);
        Assert.Equal(0, stats!["facts_learned"]!.GetValue<int>());
        Assert.Equal(0, stats["distinct_rows_changed"]!.GetValue<int>());
        var (s3, learned) = await h.GetAsync("/learned");
        Assert.Equal(200, s3);
        Assert.Equal(0, learned!["count"]!.GetValue<int>());

        using var page = await h.Client.GetAsync("/");
        Assert.Equal(200, (int)page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        string html = await page.Content.ReadAsStringAsync();
        Assert.Contains("fetch(", html);
        Assert.Contains("/learn", html);
        Assert.DoesNotContain("src=\"http", html);          // self-contained: no external assets

        using var api = await h.Client.GetAsync("/openapi/v1.json");
        Assert.Equal(200, (int)api.StatusCode);
        var doc = JsonNode.Parse(await api.Content.ReadAsStringAsync())!;
        foreach (string path in new[] { "/learn", "/ask", "/v1/completions", "/undo/{id}", "/learned", "/health", "/stats" })
            Assert.True(doc["paths"]![path] is not null, $"openapi lacks {path}");
    }

    /// <summary>
    /// DNS rebinding defence: a Host that is not localhost, 127.0.0.1, [::1], a --urls host or an --allowed-hosts name
    /// is a 400 naming the fix, on every endpoint (OpenAI's shape under /v1), and the OpenAPI document's servers entry
    /// is "/" whatever Host was sent. Before, every Host was answered and the document echoed it as its server URL.
    /// </summary>
    [Fact]
    public async Task A_host_header_outside_the_allow_list_is_a_400_and_openapi_never_echoes_the_host()
    {
        await using var h = await ServeHost.StartAsync(fx.Options() with { AllowedHosts = ["serve.internal"] });
        async Task<(int Status, JsonNode? Json)> WithHost(string host, HttpMethod method, string path, object? body = null)
        {
            using var m = h.Request(method, path, body, token: null);
            m.Headers.Host = host;
            using var res = await h.Client.SendAsync(m);
            string text = await res.Content.ReadAsStringAsync();
            return ((int)res.StatusCode, text.Length > 0 ? JsonNode.Parse(text) : null);
        }
        foreach (string host in new[] { "localhost", "LOCALHOST:5077", "127.0.0.1:5077", "[::1]:5077", "serve.internal", "serve.internal:8080" })
        {
            var (status, json) = await WithHost(host, HttpMethod.Get, "/openapi/v1.json");
            Assert.True(status == 200, $"{host}: {status}");
            Assert.Equal("[{\"url\":\"/\"}]", json!["servers"]!.ToJsonString());
        }
        foreach (string host in new[] { "evil.example", "evil.example:5077", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.7" })
        {
            var (status, json) = await WithHost(host, HttpMethod.Get, "/health");
            Assert.Equal(400, status);
            Assert.Contains("--allowed-hosts", json!["error"]!["message"]!.GetValue<string>());
            var (s2, j2) = await WithHost(host, HttpMethod.Post, "/v1/completions", new { prompt = "Hi", max_tokens = 1 });
            Assert.Equal(400, s2);
            Assert.Equal("host_not_allowed", j2!["error"]!["code"]!.GetValue<string>());
            Assert.Equal(400, (await WithHost(host, HttpMethod.Get, "/openapi/v1.json")).Status);
        }
        Assert.Contains("serve.example.org", ServeApp.AllowedHosts("http://serve.example.org:5077;http://0.0.0.0:80", []));
        Assert.DoesNotContain("0.0.0.0", ServeApp.AllowedHosts("http://serve.example.org:5077;http://0.0.0.0:80", []));
        Assert.Contains((fx.Options() with { AllowedHosts = ["http://x.org"] }).Validate(), e => e.Contains("--allowed-hosts: 'http://x.org'"));
        Assert.Contains((fx.Options() with { AllowedHosts = ["x.org:80"] }).Validate(), e => e.Contains("--allowed-hosts"));
        Assert.Empty((fx.Options() with { AllowedHosts = ["x.org", "[fe80::1]", "192.168.1.4"] }).Validate());
    }

    [Fact]
    public async Task Learn_and_undo_need_the_token_and_a_refused_one_changes_nothing()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        using var before = h.Service.SnapshotValues();
        Assert.Equal(401, (await h.PostAsync("/learn", new { text = "Ada lives in Zorn." }, token: null)).Status);
        var (status, json) = await h.PostAsync("/learn", new { text = "Ada lives in Zorn." }, token: "wrong");
        Assert.Equal(401, status);
        Assert.Equal("authentication_error", json!["error"]!["type"]!.GetValue<string>());
        Assert.Equal(401, (await h.PostAsync("/undo/1", token: null)).Status);
        SameTable(before.clone(), h.Service.SnapshotValues(), "value table after refused learns");
        Assert.Empty(h.Service.Learned());
        // Asks are open by default.
        Assert.Equal(200, (await h.PostAsync("/ask", new { prompt = "Where does Ada live?", max_tokens = 3 }, token: null)).Status);
    }

    [Fact]
    public async Task Protect_ask_requires_the_token_for_asks()
    {
        await using var h = await ServeHost.StartAsync(fx.Options() with { ProtectAsk = true });
        Assert.Equal(401, (await h.PostAsync("/ask", new { prompt = "Hi", max_tokens = 2 }, token: null)).Status);
        Assert.Equal(401, (await h.PostAsync("/v1/completions", new { prompt = "Hi", max_tokens = 2 }, token: null)).Status);
        Assert.Equal(200, (await h.PostAsync("/ask", new { prompt = "Hi", max_tokens = 2 })).Status);
    }

    public static TheoryData<string, string, int> BadRequests() => new()
    {
        { "/learn", "{not json", 400 },
        { "/learn", "[1, 2]", 400 },
        { "/learn", "\"text\"", 400 },
        { "/learn", "", 400 },
        { "/learn", "{}", 400 },
        { "/learn", "{\"text\": \"\"}", 400 },
        { "/learn", "{\"text\": \"   \"}", 400 },
        { "/learn", "{\"text\": 42}", 400 },
        { "/learn", "{\"text\": null}", 400 },
        { "/learn", "{\"text\": \"" + new string('a', 5000) + "\"}", 400 },
        { "/learn", "{\"text\": \"" + new string('a', 70 * 1024) + "\"}", 413 },
        { "/learn", "{\"text\": \"Ada lives in Zorn.\", \"question\": \"Where does Ada live?\"}", 400 },
        { "/learn", "{\"text\": \"Ada lives in Zorn.\", \"answer\": \"Zorn\"}", 400 },
        { "/learn", "{\"text\": \"Ada lives in Zorn.\", \"question\": 3, \"answer\": \"Zorn\"}", 400 },
        { "/ask", "{}", 400 },
        { "/ask", "{\"prompt\": \"\"}", 400 },
        { "/ask", "{\"prompt\": \"Hi\", \"max_tokens\": 0}", 400 },
        { "/ask", "{\"prompt\": \"Hi\", \"max_tokens\": 100000}", 400 },
        { "/ask", "{\"prompt\": \"Hi\", \"max_tokens\": \"five\"}", 400 },
        { "/ask", "{\"prompt\": \"Hi\", \"max_tokens\": 2.5}", 400 },
        { "/ask", "{\"prompt\": \"Hi\", \"raw\": \"yes\"}", 400 },
        { "/v1/completions", "{\"prompt\": [\"a\", \"b\"]}", 400 },
        { "/v1/completions", "{\"prompt\": \"Hi\", \"temperature\": -1}", 400 },
        { "/v1/completions", "{\"max_tokens\": 3}", 400 },
        { "/undo/abc", "", 400 },
        { "/undo/-3", "", 400 },
        { "/undo/0", "", 400 },
        { "/undo/999", "", 404 },
    };

    [Fact]
    public async Task Wrong_content_type_unknown_path_and_wrong_method_answer_json_errors()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var req = h.Request(HttpMethod.Post, "/learn");
        req.Content = new StringContent("{\"text\": \"Ada lives in Zorn.\"}", System.Text.Encoding.UTF8, "application/x-www-form-urlencoded");
        using (var res = await h.Client.SendAsync(req))
        {
            Assert.Equal(415, (int)res.StatusCode);
            Assert.Contains("application/json", JsonNode.Parse(await res.Content.ReadAsStringAsync())!["error"]!["message"]!.GetValue<string>());
        }
        var (s404, j404) = await h.GetAsync("/nope");
        Assert.Equal(404, s404);
        Assert.NotNull(j404!["error"]);
        var (s405, j405) = await h.GetAsync("/learn");
        Assert.Equal(405, s405);
        Assert.NotNull(j405!["error"]);
        Assert.Empty(h.Service.Learned());
    }

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Every_bad_request_is_a_4xx_with_a_json_message_and_changes_nothing(string path, string body, int expected)
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        using var before = h.Service.SnapshotValues();
        var (status, json) = await h.PostAsync(path, body);
        Assert.Equal(expected, status);
        string message = json!["error"]!["message"]!.GetValue<string>();
        Assert.False(string.IsNullOrWhiteSpace(message));
        output.WriteLine($"{path} → {status}: {message[..Math.Min(120, message.Length)]}");
        SameTable(before.clone(), h.Service.SnapshotValues(), "value table after a bad request");
        Assert.Empty(h.Service.Learned());
        Assert.Equal(0, (await h.GetAsync("/stats")).Json!["journal_lines"]!.GetValue<long>());
    }

    /// <summary>Bad input that once reached the model or the JSON reader unchecked (a 500, some with libtorch's native trace in the body).</summary>
    public static TheoryData<string, string, int, string> BadInputWithItsMessage() => new()
    {
        { "/learn", "{\"text\": \"a\\ud800b\"}", 400, "'text'" },                                   // a lone surrogate
        { "/ask", "{\"prompt\": \"Hi \\udc00\"}", 400, "'prompt'" },
        { "/v1/completions", "{\"prompt\": [\"\\ud800\"]}", 400, "'prompt'" },
        { "/ask", "{\"prompt\": \"Hi\", \"\\ud800\": 1}", 400, "field name" },
        { "/v1/completions", "{\"prompt\": \"Hi\", \"temperature\": 1e-39}", 400, "'temperature'" },
        { "/v1/completions", "{\"prompt\": \"Hi\", \"temperature\": 1e-38}", 400, "'temperature'" },
        { "/v1/completions", "{\"prompt\": \"Hi\", \"temperature\": 5e-324}", 400, "'temperature'" },
        { "/v1/completions", "{\"prompt\": \"Hi\", \"temperature\": -0.5}", 400, "'temperature'" },
        { "/v1/completions", "{\"prompt\": \"Hi\", \"temperature\": \"NaN\"}", 400, "'temperature'" },
        { "/v1/completions", "{\"prompt\": \"Hi\", \"temperature\": NaN}", 400, "malformed JSON" },
        { "/v1/completions", "{\"prompt\": \"Hi\", \"temperature\": 1e400}", 400, "'temperature'" },
        { "/undo/1?cascade=maybe", "", 400, "cascade" },
        { "/undo/1?cascade=", "", 400, "cascade" },
    };

    [Theory]
    [MemberData(nameof(BadInputWithItsMessage))]
    public async Task Bad_input_gets_a_4xx_naming_the_problem_never_a_500_or_a_native_message(string path, string body, int expected, string fragment)
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        await AssertRefused(h, h.Request(HttpMethod.Post, path, body), expected, fragment);
    }

    public static TheoryData<string, byte[], string, int, string> BadBytes() => new()
    {
        { "/learn", [.. "{\"text\": \"Ada \""u8, 0xFF, 0xFE, .. " lives.\"}"u8], "application/json", 400, "UTF-8" },
        { "/v1/completions", [.. "{\"prompt\": \"caf"u8, 0xE9, .. "\"}"u8], "application/json", 400, "UTF-8" },
        { "/ask", [.. "{\"prompt\": \"x\", \"a"u8, 0xC0, 0xAF, .. "\": 1}"u8], "application/json", 400, "UTF-8" },
        { "/learn", System.Text.Encoding.Unicode.GetBytes("{\"text\": \"Ada lives in Zorn.\"}"), "application/json; charset=utf-16", 415, "charset" },
        { "/ask", System.Text.Encoding.Latin1.GetBytes("{\"prompt\": \"caf\u00e9\"}"), "application/json; charset=iso-8859-1", 415, "charset" },
    };

    [Theory]
    [MemberData(nameof(BadBytes))]
    public async Task A_body_that_is_not_utf8_is_refused_with_a_message(string path, byte[] body, string contentType, int expected, string fragment)
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var request = h.Request(HttpMethod.Post, path);
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
        await AssertRefused(h, request, expected, fragment);
    }

    /// <summary>
    /// The 4,000-character limit counts Unicode characters (scalar values), as docs/serve.md says: 4,000 emoji (8,000
    /// UTF-16 units, 16,000 UTF-8 bytes) are accepted and 4,001 are refused naming the count. Before, .NET's UTF-16
    /// length was compared, so 2,001 emoji were already "4002 characters".
    /// </summary>
    [Fact]
    public async Task The_text_limit_counts_unicode_characters_not_utf16_units_or_bytes()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        string emoji = "\U0001F600";
        string fits = string.Concat(Enumerable.Repeat(emoji, 4000));
        Assert.Equal(8000, fits.Length);
        var (ok, _) = await h.PostAsync("/ask", new { prompt = fits, max_tokens = 1, raw = true }, token: null);
        Assert.NotEqual(400, ok);                              // not refused by the character limit (the context limit may still apply)
        var (status, json) = await h.PostAsync("/ask", new { prompt = fits + emoji, max_tokens = 1 }, token: null);
        Assert.Equal(400, status);
        Assert.Contains("is 4001 characters; the limit is 4000", json!["error"]!["message"]!.GetValue<string>());
        var (s2, j2) = await h.PostAsync("/learn", new { text = "é" + fits });
        Assert.Equal(400, s2);
        Assert.Contains("4001 characters", j2!["error"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_utf8_charset_is_accepted_in_any_spelling()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        foreach (string ct in new[] { "application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json;charset=\"utf-8\"" })
        {
            var request = h.Request(HttpMethod.Post, "/ask");
            request.Content = new ByteArrayContent("{\"prompt\": \"caf\u00e9\", \"max_tokens\": 2}"u8.ToArray());
            request.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(ct);
            using var res = await h.Client.SendAsync(request);
            Assert.True(res.IsSuccessStatusCode, $"{ct}: {(int)res.StatusCode} {await res.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>The request is answered <paramref name="expected"/> with a JSON error naming the problem, and changes nothing.</summary>
    async Task AssertRefused(ServeHost h, HttpRequestMessage request, int expected, string fragment)
    {
        using var before = h.Service.SnapshotValues();
        using var res = await h.Client.SendAsync(request);
        string text = await res.Content.ReadAsStringAsync();
        output.WriteLine($"{request.RequestUri} → {(int)res.StatusCode}: {text}");
        Assert.Equal(expected, (int)res.StatusCode);
        Assert.Equal("application/json", res.Content.Headers.ContentType?.MediaType);
        string message = JsonNode.Parse(text)!["error"]!["message"]!.GetValue<string>();
        Assert.Contains(fragment, message);
        Assert.DoesNotContain($"HTTP {expected}", message);
        Assert.DoesNotContain("Exception", message);
        Assert.DoesNotContain('\n', message);                 // no native (libtorch) trace
        SameTable(before.clone(), h.Service.SnapshotValues(), "value table after a refused request");
        Assert.Empty(h.Service.Learned());
    }

    [Fact]
    public async Task Learn_changes_rows_and_the_taught_answers_nll_then_ask_and_completions_answer()
    {
        await using var h = await ServeHost.StartAsync(fx.Options() with { StepsPerLearn = 2 });
        string prompt = QaFormat.Prompt("Where does Bela live?");
        double nllBefore = h.Service.Nll(prompt, " Yelm");
        double statementBefore = h.Service.Nll("", "Bela lives in Yelm.");
        using var before = h.Service.SnapshotValues();

        var (status, json) = await h.PostAsync("/learn", new { text = "Bela lives in Yelm.", question = "Where does Bela live?", answer = "Yelm" });
        Assert.Equal(200, status);
        Assert.Equal(1, json!["id"]!.GetValue<long>());
        int rows = json["rows"]!.GetValue<int>();
        Assert.True(rows > 0, "a learn changes value rows");
        Assert.True(double.IsFinite(json["loss"]!.GetValue<double>()));
        var listed = json["changed_rows"]!.AsArray().Select(n => n!.GetValue<long>()).ToArray();
        Assert.Equal(Math.Min(rows, ServeApp.MaxListedRows), listed.Length);

        using var after = h.Service.SnapshotValues();
        var changed = Enumerable.Range(0, (int)after.shape[0]).Where(r => !Equal(before[r], after[r])).Select(r => (long)r).ToArray();
        Assert.Equal(h.Service.Learned()[0].Rows.Order(), changed);           // exactly the rows it reports, no others
        SameTable(after.clone(), h.Service.SnapshotLearnerValues(), "learner and server tables");

        double nllAfter = h.Service.Nll(prompt, " Yelm");
        double statementAfter = h.Service.Nll("", "Bela lives in Yelm.");
        output.WriteLine($"answer NLL {nllBefore:F4} → {nllAfter:F4}; statement NLL {statementBefore:F4} → {statementAfter:F4}; {rows} rows");
        Assert.NotEqual(nllBefore, nllAfter);
        Assert.True(statementAfter < statementBefore, "the taught statement becomes more likely");

        var (s2, ask) = await h.PostAsync("/ask", new { prompt = "Where does Bela live?", max_tokens = 5 }, token: null);
        Assert.Equal(200, s2);
        Assert.True(ask!["wrapped"]!.GetValue<bool>());
        Assert.Equal(prompt, ask["prompt_used"]!.GetValue<string>());
        Assert.NotNull(ask["text"]!.GetValue<string>());

        var (s3, cmpl) = await h.PostAsync("/v1/completions", new { model = "base", prompt = "Bela lives in", max_tokens = 4, temperature = 0 }, token: null);
        Assert.Equal(200, s3);
        Assert.Equal("text_completion", cmpl!["object"]!.GetValue<string>());
        Assert.StartsWith("cmpl-", cmpl["id"]!.GetValue<string>());
        Assert.Equal("base", cmpl["model"]!.GetValue<string>());
        Assert.True(cmpl["created"]!.GetValue<long>() > 0);
        var choice = cmpl["choices"]!.AsArray().Single()!;
        Assert.Equal(0, choice["index"]!.GetValue<int>());
        Assert.Contains(choice["finish_reason"]!.GetValue<string>(), new[] { "stop", "length" });
        Assert.NotNull(choice["text"]!.GetValue<string>());
        // Greedy is deterministic.
        var (_, again) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 4 }, token: null);
        Assert.Equal(choice["text"]!.GetValue<string>(), again!["choices"]![0]!["text"]!.GetValue<string>());

        var (_, learned) = await h.GetAsync("/learned");
        var item = learned!["learns"]![0]!;
        Assert.Equal("Bela lives in Yelm.", item["text"]!.GetValue<string>());
        Assert.Equal(rows, item["rows"]!.GetValue<int>());
        Assert.False(item["undone"]!.GetValue<bool>());
        var (_, stats) = await h.GetAsync("/stats");
        Assert.Equal(1, stats!["facts_learned"]!.GetValue<int>());
        Assert.Equal(rows, stats["distinct_rows_changed"]!.GetValue<int>());
    }

    /// <summary>The generated ids of the served (unchanged) checkpoint, decoded independently of the service.</summary>
    (int[] Prompt, int[] Ids, string Text) Reference(string prompt, SamplingOptions sampling)
    {
        var loaded = SparseMemory.Checkpoints.Checkpoint.Load(fx.BaseDir);
        using var model = loaded.Model;
        var promptIds = loaded.Tokenizer.Encode(prompt);
        var ids = SparseMemory.Model.TextGenerator.GenerateIds(model, [promptIds], sampling, loaded.Tokenizer.EosIds)[0];
        return (promptIds, ids, loaded.Tokenizer.Decode(ids));
    }

    static string ChoiceText(JsonNode? json, int i = 0) => json!["choices"]![i]!["text"]!.GetValue<string>();

    [Theory]
    [InlineData("Bela lives in", 4)]
    [InlineData("Ada", 16)]
    [InlineData("The", 25)]
    public async Task Completion_usage_and_finish_reason_come_from_the_generated_tokens(string prompt, int maxTokens)
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var (status, json) = await h.PostAsync("/v1/completions", new { prompt, max_tokens = maxTokens }, token: null);
        Assert.Equal(200, status);
        var (promptIds, ids, text) = Reference(prompt, new SamplingOptions(maxTokens));
        output.WriteLine($"{json!.ToJsonString()}; reference {ids.Length} tokens");
        Assert.Equal(text, ChoiceText(json));
        Assert.Equal(ids.Length == maxTokens ? "length" : "stop", json["choices"]![0]!["finish_reason"]!.GetValue<string>());
        var usage = json["usage"]!;
        Assert.Equal(promptIds.Length, usage["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(ids.Length, usage["completion_tokens"]!.GetValue<int>());
        Assert.InRange(usage["completion_tokens"]!.GetValue<int>(), 0, maxTokens);
        Assert.Equal(promptIds.Length + ids.Length, usage["total_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_completion_that_would_not_fit_the_context_is_refused_naming_the_limit()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        int context = h.Service.ContextLength;
        string longPrompt = string.Concat(Enumerable.Repeat("Ada lives in Zorn. ", 10));
        Assert.True(h.Service.Encode(longPrompt).Length > context, "the prompt is longer than the tiny model's context");
        var (status, json) = await h.PostAsync("/v1/completions", new { prompt = longPrompt, max_tokens = 1 }, token: null);
        Assert.Equal(400, status);
        var error = json!["error"]!;
        Assert.Contains($"{context} tokens", error["message"]!.GetValue<string>());
        Assert.Equal("prompt", error["param"]!.GetValue<string>());
        Assert.Equal("context_length_exceeded", error["code"]!.GetValue<string>());
        // A prompt that fits, with max_tokens that does not: refused too (the model would stop reading the prompt's start).
        int fits = h.Service.Encode("Bela lives in").Length;
        var (s2, j2) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = context - fits + 1 }, token: null);
        Assert.Equal(400, s2);
        Assert.Equal("max_tokens", j2!["error"]!["param"]!.GetValue<string>());
        Assert.Equal(200, (await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = context - fits }, token: null)).Status);
    }

    [Fact]
    public async Task Stop_sequences_cut_the_text_at_the_first_one_and_finish_with_stop()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var (_, free) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 12 }, token: null);
        string full = ChoiceText(free);
        output.WriteLine($"without stop: {free!.ToJsonString()}");
        Assert.True(full.Length >= 4, "the tiny model writes a few characters");
        string stop = full.Substring(2, 2);
        int at = full.IndexOf(stop, StringComparison.Ordinal);
        foreach (object stopField in new object[] { stop, new[] { "never-in-this-text-\u2603", stop } })
        {
            var (status, json) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 12, stop = stopField }, token: null);
            Assert.Equal(200, status);
            Assert.Equal(full[..at], ChoiceText(json));
            Assert.Equal("stop", json!["choices"]![0]!["finish_reason"]!.GetValue<string>());
            Assert.True(json["usage"]!["completion_tokens"]!.GetValue<int>() < free["usage"]!["completion_tokens"]!.GetValue<int>() || at + stop.Length == full.Length,
                "generation ends at the token that completes the stop sequence");
        }
        // A stop sequence that never appears changes nothing.
        var (_, none) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 12, stop = "never-in-this-text" }, token: null);
        Assert.Equal(full, ChoiceText(none));
        Assert.Equal(free["choices"]![0]!["finish_reason"]!.GetValue<string>(), none!["choices"]![0]!["finish_reason"]!.GetValue<string>());
        foreach (var bad in new object[] { "", new[] { "a", "b", "c", "d", "e" }, 3, new object[] { "a", 1 } })
        {
            var (s, j) = await h.PostAsync("/v1/completions", new { prompt = "Hi", stop = bad }, token: null);
            Assert.Equal(400, s);
            Assert.Equal("stop", j!["error"]!["param"]!.GetValue<string>());
        }
    }

    /// <summary>Posts a streamed completion and returns the content type and the data of each server-sent event, in order.</summary>
    static async Task<(int Status, string? ContentType, List<string> Events)> StreamAsync(ServeHost h, object body)
    {
        using var res = await h.Client.SendAsync(h.Request(HttpMethod.Post, "/v1/completions", body, token: null), HttpCompletionOption.ResponseHeadersRead);
        string text = await res.Content.ReadAsStringAsync();
        var events = new List<string>();
        foreach (string block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.StartsWith("data: ", block);
            events.Add(block["data: ".Length..]);
        }
        return ((int)res.StatusCode, res.Content.Headers.ContentType?.MediaType, events);
    }

    /// <summary>
    /// <c>stream: true</c> answers text/event-stream in the shape OpenAI's client reads: chunks of one choice with text
    /// and a null finish_reason, one last chunk per choice with its finish_reason, with include_usage a final chunk with
    /// no choices and the usage, then [DONE]. The pieces of each choice concatenate to the same text as the answer
    /// without streaming (greedy and seeded sampling, a stop sequence, n = 2). Before, stream: true was a 400.
    /// </summary>
    [Fact]
    public async Task Stream_true_sends_server_sent_events_that_add_up_to_the_plain_completion()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var (_, free) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 12 }, token: null);
        string full = ChoiceText(free);
        string stop = full.Length >= 4 ? full.Substring(2, 2) : "zz";
        var cases = new (object Plain, object Streamed)[]
        {
            (new { prompt = "Bela lives in", max_tokens = 12 },
             new { prompt = "Bela lives in", max_tokens = 12, stream = true, stream_options = new { include_usage = true } }),
            (new { prompt = "Bela lives in", max_tokens = 12, stop },
             new { prompt = "Bela lives in", max_tokens = 12, stop, stream = true, stream_options = new { include_usage = true } }),
            (new { prompt = "Ada lives in", max_tokens = 6, n = 2, temperature = 1.0, seed = 5 },
             new { prompt = "Ada lives in", max_tokens = 6, n = 2, temperature = 1.0, seed = 5, stream = true, stream_options = new { include_usage = true } }),
        };
        foreach (var (plainBody, streamBody) in cases)
        {
            var (_, plain) = await h.PostAsync("/v1/completions", plainBody, token: null);
            var (status, type, events) = await StreamAsync(h, streamBody);
            output.WriteLine(string.Join("\n", events));
            Assert.Equal(200, status);
            Assert.Equal("text/event-stream", type);
            Assert.Equal("[DONE]", events[^1]);
            var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
            Assert.All(chunks, c => Assert.Equal("text_completion", c["object"]!.GetValue<string>()));
            Assert.Single(chunks.Select(c => c["id"]!.GetValue<string>()).Distinct());
            var usage = chunks[^1];
            Assert.Empty(usage["choices"]!.AsArray());
            Assert.Equal(plain!["usage"]!.ToJsonString(), usage["usage"]!.ToJsonString());
            var choiceChunks = chunks[..^1];
            Assert.All(choiceChunks, c => Assert.Null(c["usage"]));
            var plainChoices = plain["choices"]!.AsArray();
            for (int i = 0; i < plainChoices.Count; i++)
            {
                var mine = choiceChunks.Select(c => c["choices"]!.AsArray().Single()!).Where(c => c["index"]!.GetValue<int>() == i).ToList();
                Assert.All(mine, c => Assert.True(c.AsObject().ContainsKey("finish_reason") && c.AsObject().ContainsKey("logprobs")));
                Assert.All(mine[..^1], c => Assert.Null(c["finish_reason"]));
                Assert.Equal(plainChoices[i]!["finish_reason"]!.GetValue<string>(), mine[^1]["finish_reason"]!.GetValue<string>());
                Assert.Equal(plainChoices[i]!["text"]!.GetValue<string>(), string.Concat(mine.Select(c => c["text"]!.GetValue<string>())));
            }
        }
        // Without include_usage there is no usage chunk; a bad stream_options is a 400 naming it.
        var (_, _, plainEvents) = await StreamAsync(h, new { prompt = "Bela lives in", max_tokens = 3, stream = true });
        Assert.Equal("[DONE]", plainEvents[^1]);
        Assert.All(plainEvents[..^1], e => Assert.Single(JsonNode.Parse(e)!["choices"]!.AsArray()));
        var (bad, json) = await h.PostAsync("/v1/completions", new { prompt = "Hi", stream = true, stream_options = new { include_usage = true, extra = 1 } }, token: null);
        Assert.Equal(400, bad);
        Assert.Equal("stream_options", json!["error"]!["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task N_choices_are_seeded_per_index_top_p_cuts_the_nucleus_and_sampling_without_a_seed_differs()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var (status, json) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 8, temperature = 1.0, n = 3, seed = 7 }, token: null);
        Assert.Equal(200, status);
        var choices = json!["choices"]!.AsArray();
        Assert.Equal([0, 1, 2], choices.Select(c => c!["index"]!.GetValue<int>()));
        int tokens = 0;
        for (int i = 0; i < 3; i++)
        {
            var (_, single) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 8, temperature = 1.0, seed = 7 + i }, token: null);
            Assert.Equal(ChoiceText(single), ChoiceText(json, i));
            tokens += single!["usage"]!["completion_tokens"]!.GetValue<int>();
        }
        Assert.Equal(tokens, json["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.True(choices.Select(c => c!["text"]!.GetValue<string>()).Distinct().Count() > 1, "different seeds, different samples");

        // Without a seed each request draws its own: five samples are not all the same text.
        var texts = new List<string>();
        for (int i = 0; i < 5; i++)
            texts.Add(ChoiceText((await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 8, temperature = 1.0 }, token: null)).Json));
        output.WriteLine(string.Join(" | ", texts));
        Assert.True(texts.Distinct().Count() > 1, "sampling without a seed gave the same text on every call");

        // top_p: a nucleus of almost no mass keeps only the most likely token, which is greedy decoding.
        var (_, greedy) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 8 }, token: null);
        var (_, nucleus) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 8, temperature = 1.0, top_p = 1e-6, seed = 3 }, token: null);
        Assert.Equal(ChoiceText(greedy), ChoiceText(nucleus));
        var (_, wide) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 8, temperature = 1.0, seed = 3 }, token: null);
        Assert.NotEqual(ChoiceText(greedy), ChoiceText(wide));
        // Greedy with n: every choice is the greedy text.
        var (_, greedyN) = await h.PostAsync("/v1/completions", new { prompt = "Bela lives in", max_tokens = 8, n = 2 }, token: null);
        Assert.All(greedyN!["choices"]!.AsArray(), c => Assert.Equal(ChoiceText(greedy), c!["text"]!.GetValue<string>()));
        Assert.Equal(2 * greedy!["usage"]!["completion_tokens"]!.GetValue<int>(), greedyN["usage"]!["completion_tokens"]!.GetValue<int>());
        foreach (var (field, value) in new (string, object)[] { ("n", 0), ("n", 9), ("top_p", 0), ("top_p", 1.5) })
        {
            var (s, j) = await h.PostAsync("/v1/completions", $"{{\"prompt\": \"Hi\", \"{field}\": {value}}}", token: null);
            Assert.Equal(400, s);
            Assert.Equal(field, j!["error"]!["param"]!.GetValue<string>());
        }
    }

    [Theory]
    [InlineData("suffix", "\" end\"")]
    [InlineData("best_of", "2")]
    [InlineData("frequency_penalty", "0.5")]
    [InlineData("presence_penalty", "-1")]
    [InlineData("logit_bias", "{\"50\": 5}")]
    [InlineData("stream_options", "{\"include_usage\": true}")]
    [InlineData("functions", "[]")]
    [InlineData("temprature", "0.5")]
    public async Task An_unsupported_completion_field_is_an_openai_shaped_400_naming_it(string field, string value)
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        using var res = await h.Client.SendAsync(h.Request(HttpMethod.Post, "/v1/completions", $"{{\"prompt\": \"Hi\", \"{field}\": {value}}}", token: null));
        string text = await res.Content.ReadAsStringAsync();
        output.WriteLine(text);
        Assert.Equal(400, (int)res.StatusCode);
        var error = JsonNode.Parse(text)!["error"]!.AsObject();
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(field, error["param"]!.GetValue<string>());
        Assert.Contains($"'{field}'", error["message"]!.GetValue<string>());
        Assert.True(error.ContainsKey("code") && error["code"] is null, "code is present and null");
    }

    [Fact]
    public async Task Openai_fields_at_their_neutral_default_are_accepted_and_another_model_is_a_404()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        const string neutral = "{\"model\": \"base\", \"prompt\": \"Hi\", \"max_tokens\": 2, \"echo\": false, \"stream\": false, \"logprobs\": null, \"suffix\": null, " +
                               "\"best_of\": 1, \"frequency_penalty\": 0, \"presence_penalty\": 0.0, \"logit_bias\": {}, \"user\": \"u-1\", \"n\": 1}";
        var (status, json) = await h.PostAsync("/v1/completions", neutral, token: null);
        Assert.Equal(200, status);
        Assert.Null(json!["choices"]![0]!["logprobs"]);
        Assert.True(json["choices"]![0]!.AsObject().ContainsKey("logprobs"));
        var (s404, j404) = await h.PostAsync("/v1/completions", new { model = "gpt-3.5-turbo-instruct", prompt = "Hi" }, token: null);
        Assert.Equal(404, s404);
        var error = j404!["error"]!;
        Assert.Equal("model_not_found", error["code"]!.GetValue<string>());
        Assert.Equal("model", error["param"]!.GetValue<string>());
        Assert.Contains("gpt-3.5-turbo-instruct", error["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Text_only_learns_use_the_sentences_as_statements()
    {
        var texts = MemoryService.SplitSentences("Cyril lives in Xant. He has a red boat!  Why? Because.");
        Assert.Equal(new[] { "Cyril lives in Xant.", "He has a red boat!", "Why?", "Because." }, texts);
        await using var h = await ServeHost.StartAsync(fx.Options());
        var batch = h.Service.Paraphrases(new LearnRequest("Cyril lives in Xant. He has a red boat.", null, null));
        Assert.Equal(4, batch.Count);
        Assert.All(batch, t => Assert.True(t.Contains("Cyril lives in Xant") || t.Contains("red boat") || t.Contains("cyril"), t));
        Assert.Equal(1, await h.LearnAsync("Cyril lives in Xant. He has a red boat."));
    }

    [Fact]
    public async Task Undo_restores_the_value_table_bit_for_bit()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        using var before = h.Service.SnapshotValues();
        long id = await h.LearnAsync("Dora lives in Wick.", "Where does Dora live?", "Wick");
        using (var mid = h.Service.SnapshotValues()) Assert.False(Equal(before, mid));
        var (status, json) = await h.PostAsync($"/undo/{id}");
        Assert.Equal(200, status);
        Assert.Equal(new[] { id }, json!["undone"]!.AsArray().Select(n => n!.GetValue<long>()));
        SameTable(before.clone(), h.Service.SnapshotValues(), "served table after undo");
        SameTable(before.clone(), h.Service.SnapshotLearnerValues(), "learner table after undo");
        Assert.True(h.Service.Learned().Single().Undone);
        var (again, msg) = await h.PostAsync($"/undo/{id}");
        Assert.Equal(409, again);
        Assert.Contains("already undone", msg!["error"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Undo_of_a_learn_with_a_later_overlapping_learn_is_409_unless_cascade()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        using var before = h.Service.SnapshotValues();
        long a = await h.LearnAsync("Emil lives in Vale.");
        using var afterA = h.Service.SnapshotValues();
        long b = await h.LearnAsync("Fenna lives in Umber.");
        var learns = h.Service.Learned();
        Assert.True(learns[0].Rows.Intersect(learns[1].Rows).Any(), "the tiny memory (64 rows) makes the two learns overlap");
        using var afterB = h.Service.SnapshotValues();

        var (status, json) = await h.PostAsync($"/undo/{a}");
        Assert.Equal(409, status);
        Assert.Equal(new[] { b }, json!["error"]!["later"]!.AsArray().Select(n => n!.GetValue<long>()));
        Assert.Contains($"{b}", json["error"]!["message"]!.GetValue<string>());
        SameTable(afterB.clone(), h.Service.SnapshotValues(), "table after a refused undo");

        var (s2, cascade) = await h.PostAsync($"/undo/{a}?cascade=true");
        Assert.Equal(200, s2);
        Assert.Equal(new[] { b, a }, cascade!["undone"]!.AsArray().Select(n => n!.GetValue<long>()));
        SameTable(before.clone(), h.Service.SnapshotValues(), "table after the cascade");
        SameTable(before.clone(), h.Service.SnapshotLearnerValues(), "learner table after the cascade");

        // Undoing the newest first needs no cascade, and restores the table as it was after the older learn.
        long c = await h.LearnAsync("Emil lives in Vale.");
        using var afterC = h.Service.SnapshotValues();
        long d = await h.LearnAsync("Fenna lives in Umber.");
        Assert.Equal(200, (await h.PostAsync($"/undo/{d}")).Status);
        SameTable(afterC.clone(), h.Service.SnapshotValues(), "table after undoing the newest learn");
        Assert.Equal(200, (await h.PostAsync($"/undo/{c}")).Status);
        SameTable(before.clone(), h.Service.SnapshotValues(), "table after undoing both");
        Assert.Equal(4, h.Service.Learned().Count(l => l.Undone));
        Assert.True(Equal(afterA, afterC), "the same learn from the same table gives the same rows (deterministic)");
    }

    [Fact]
    public async Task A_restart_replays_the_journal_after_the_last_checkpoint()
    {
        var options = fx.Options() with { CheckpointEvery = 2 };
        Tensor expected;
        IReadOnlyList<LearnInfo> learnedBefore;
        var h1 = await ServeHost.StartAsync(options);
        await h1.LearnAsync("Ada lives in Zorn.");
        await h1.LearnAsync("Bela lives in Yelm.", "Where does Bela live?", "Yelm");
        await h1.LearnAsync("Cyril lives in Xant.");
        Assert.Equal(200, (await h1.PostAsync("/undo/3")).Status);
        await h1.LearnAsync("Dora lives in Wick.");
        expected = h1.Service.SnapshotValues();
        learnedBefore = h1.Service.Learned();
        await h1.CrashAsync();                                  // no final checkpoint: the journal tail must be replayed

        await using (var h2 = await ServeHost.StartAsync(options))
        {
            Assert.True(h2.Service.Replayed > 0, "lines after the last background checkpoint were replayed");
            SameTable(expected.clone(), h2.Service.SnapshotValues(), "served table after restart");
            SameTable(expected.clone(), h2.Service.SnapshotLearnerValues(), "learner table after restart");
            Assert.Equal(learnedBefore.Select(l => (l.Id, l.Undone, l.Rows.Length)), h2.Service.Learned().Select(l => (l.Id, l.Undone, l.Rows.Length)));
            Assert.Equal(5, await h2.LearnAsync("Emil lives in Vale."));
            Assert.Equal(200, (await h2.PostAsync("/undo/5")).Status);
        }
        // A clean stop wrote a final checkpoint: the next start replays nothing and has the same table.
        await using var h3 = await ServeHost.StartAsync(options);
        Assert.Equal(0, h3.Service.Replayed);
        SameTable(expected, h3.Service.SnapshotValues(), "table after a clean restart");
        Assert.Equal(5, h3.Service.Learned().Count);
    }

    [Fact]
    public async Task A_torn_journal_line_is_dropped_and_a_journaled_learn_is_never_duplicated()
    {
        var options = fx.Options();
        var h1 = await ServeHost.StartAsync(options);
        await h1.LearnAsync("Ada lives in Zorn.");
        await h1.LearnAsync("Bela lives in Yelm.");
        using var expected = h1.Service.SnapshotValues();
        await h1.CrashAsync();
        string journal = Path.Combine(options.EffectiveStateDir, Journal.FileName);
        var lines = File.ReadAllLines(journal);
        Assert.Equal(2, lines.Length);
        // A third learn crashed mid-append: half its line, no newline, never acknowledged.
        File.AppendAllText(journal, lines[1].Replace("\"seq\":2", "\"seq\":3").Replace("\"id\":2", "\"id\":3")[..(lines[1].Length / 2)]);

        for (int start = 0; start < 2; start++)     // replaying twice (a crash during recovery) changes nothing either
        {
            var h = await ServeHost.StartAsync(options);
            SameTable(expected.clone(), h.Service.SnapshotValues(), $"table after restart {start + 1}");
            Assert.Equal(new[] { 1L, 2L }, h.Service.Learned().Select(l => l.Id));
            await h.CrashAsync();
        }
        Assert.Equal(2, File.ReadAllLines(journal).Length);
        await using var h4 = await ServeHost.StartAsync(options);
        Assert.Equal(3, await h4.LearnAsync("Cyril lives in Xant."));
        Assert.Equal(3, File.ReadAllLines(journal).Length);
    }

    [Fact]
    public async Task A_state_folder_of_another_model_is_refused()
    {
        var options = fx.Options();
        await (await ServeHost.StartAsync(options)).DisposeAsync();
        string state = Path.Combine(options.EffectiveStateDir, MemoryService.StateFile);
        File.WriteAllText(state, File.ReadAllText(state).Replace("\"model_fingerprint\": \"", "\"model_fingerprint\": \"0"));
        var e = Assert.Throws<InvalidDataException>(() => new MemoryService(options));
        Assert.Contains("another model", e.Message);
    }

    [Fact]
    public async Task Learns_over_the_rate_limit_are_429()
    {
        await using var h = await ServeHost.StartAsync(fx.Options() with { LearnsPerMinute = 2 });
        await h.LearnAsync("Ada lives in Zorn.");
        await h.LearnAsync("Bela lives in Yelm.");
        var (status, json) = await h.PostAsync("/learn", new { text = "Cyril lives in Xant." });
        Assert.Equal(429, status);
        Assert.Equal("rate_limit", json!["error"]!["type"]!.GetValue<string>());
        Assert.Equal(2, h.Service.Learned().Count);
    }

    [Fact]
    public async Task The_forgetting_check_runs_at_start_and_every_n_learns()
    {
        await using var h = await ServeHost.StartAsync(fx.Options() with { CheckEvery = 1, CheckLimit = 4 });
        await h.LearnAsync("Ada lives in Zorn.");
        var (_, stats) = await h.GetAsync("/stats");
        var check = stats!["forgetting_check"]!;
        output.WriteLine(check.ToJsonString());
        Assert.True(check["enabled"]!.GetValue<bool>());
        Assert.NotNull(check["at_start"]);
        Assert.NotNull(check["drift"]);
        Assert.Equal(1, check["latest_after_learns"]!.GetValue<int>());
        Assert.True(check["at_start"]!.AsObject().Count > 0, "at least one probe ran on the tiny model");
        // Every check is kept, oldest first: the one at start (0 facts) and the one after the learn (1 fact); the page charts them.
        await h.LearnAsync("Bela lives in Yelm.");
        var (_, again) = await h.GetAsync("/stats");
        var history = again!["forgetting_check"]!["history"]!.AsArray();
        Assert.Equal([0, 1, 2], history.Select(x => x!["learns"]!.GetValue<int>()));
        Assert.All(history[0]!["drift"]!.AsObject(), kv => Assert.Equal(0.0, kv.Value!.GetValue<double>()));
        Assert.Equal(again["forgetting_check"]!["drift"]!.ToJsonString(), history[^1]!["drift"]!.ToJsonString());
    }

    [Fact]
    public async Task The_drift_guard_undoes_and_refuses_a_learn_that_drifts_too_far()
    {
        // A huge lr on the tiny model moves the held-out NLL far more than the 1e-6 allowed.
        await using var h = await ServeHost.StartAsync(fx.Options() with { CheckEvery = 1, CheckLimit = 4, MaxDrift = 1e-6, Lr = 1e4 });
        using var before = h.Service.SnapshotValues();
        var (status, json) = await h.PostAsync("/learn", new { text = "Ada lives in Zorn." });
        Assert.Equal(422, status);
        Assert.Equal("drift_guard", json!["error"]!["type"]!.GetValue<string>());
        Assert.Contains("--max-drift", json["error"]!["message"]!.GetValue<string>());
        SameTable(before.clone(), h.Service.SnapshotValues(), "value table after a refused learn");
        Assert.All(h.Service.Learned(), l => Assert.True(l.Undone));
        // Without the guard the same learn is accepted.
        await using var open = await ServeHost.StartAsync(fx.Options() with { CheckEvery = 1, CheckLimit = 4, Lr = 1e4 });
        Assert.Equal(200, (await open.PostAsync("/learn", new { text = "Ada lives in Zorn." })).Status);
    }

    /// <summary>
    /// A learn runs the training step of smf finetune, divergence checks included: with lr 1e30 the update stays finite
    /// (rows of norm ~1e28) but is refused as diverged — 422, nothing journaled or listed, both tables as before — and
    /// the service goes on answering. Before the shared step the service skipped these checks and acknowledged the learn.
    /// </summary>
    [Fact]
    public async Task A_learn_whose_step_diverges_is_refused_and_restores_the_rows()
    {
        var options = fx.Options() with { Lr = 1e30 };
        await using var h = await ServeHost.StartAsync(options);
        using var before = h.Service.SnapshotValues();
        var (status, json) = await h.PostAsync("/learn", new { text = "Ada lives in Zorn." });
        Assert.Equal(422, status);
        Assert.Equal("diverged", json!["error"]!["type"]!.GetValue<string>());
        string message = json["error"]!["message"]!.GetValue<string>();
        Assert.Contains("learn refused: training diverged (a memory value row has norm", message);
        Assert.Contains("--lr", message);
        Assert.Empty(h.Service.Learned());
        Assert.Equal(0, (await h.GetAsync("/stats")).Json!["journal_lines"]!.GetValue<long>());
        SameTable(before.clone(), h.Service.SnapshotValues(), "served table after a refused learn");
        SameTable(before.clone(), h.Service.SnapshotLearnerValues(), "learner table after a refused learn");
        Assert.False(File.Exists(Path.Combine(options.EffectiveStateDir, Journal.LearnsFolder, "00000001.safetensors")));
        Assert.Equal(200, (await h.PostAsync("/ask", new { prompt = "Ada lives in", max_tokens = 2 })).Status);
    }

    [Fact]
    public void The_drift_guard_needs_a_sane_threshold_and_the_check()
    {
        Assert.Contains((fx.Options() with { MaxDrift = double.NaN, CheckEvery = 1 }).Validate(), e => e.Contains("--max-drift"));
        Assert.Contains((fx.Options() with { MaxDrift = -1, CheckEvery = 1 }).Validate(), e => e.Contains("--max-drift"));
        Assert.Contains((fx.Options() with { MaxDrift = 0.1 }).Validate(), e => e.Contains("--check-every"));
        Assert.Empty((fx.Options() with { MaxDrift = 0.1, CheckEvery = 2 }).Validate());
    }

    [Fact]
    public void The_ask_rule_wraps_only_questions()
    {
        Assert.Equal((QaFormat.Prompt("Who?"), true), ServeApp.AskPrompt("Who?"));
        Assert.Equal(("Question: Who?\nAnswer:", false), ServeApp.AskPrompt("Question: Who?\nAnswer:"));
        Assert.Equal(("Ada lives in", false), ServeApp.AskPrompt("Ada lives in"));
    }

    [Fact]
    public async Task On_kestrel_the_bound_loopback_address_is_reported_with_its_real_port()
    {
        var options = fx.Options();
        using var service = new MemoryService(options);
        var app = ServeApp.Build(service, options, "http://127.0.0.1:0");
        await using (app)
        {
            var bound = await ServeApp.StartCheckedAsync(app, allowRemote: false);
            var uri = new Uri(Assert.Single(bound));
            Assert.Equal("127.0.0.1", uri.Host);
            Assert.NotEqual(0, uri.Port);
            using var http = new HttpClient { BaseAddress = uri };
            Assert.True((await http.GetAsync("/health")).IsSuccessStatusCode);
            // Ids that TestServer cannot send, on the real server: each gets the specific message.
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ServeFixture.Token);
            foreach (string path in new[] { "/undo/%2500", "/undo/1%20", "/undo/%C3%A9", "/undo/1?cascade=maybe" })
            {
                using var res = await http.PostAsync(path, null);
                string text = await res.Content.ReadAsStringAsync();
                output.WriteLine($"{path} → {(int)res.StatusCode}: {text}");
                Assert.Equal(400, (int)res.StatusCode);
                string message = JsonNode.Parse(text)!["error"]!["message"]!.GetValue<string>();
                Assert.Contains(path.Contains("cascade") ? "cascade" : "learn id", message);
            }
            // A NUL byte in the path: the service's JSON 400 (NulPathFilter), and nothing undone.
            using (var nul = await http.PostAsync("/undo/%00", null))
            {
                Assert.Equal(400, (int)nul.StatusCode);
                Assert.Contains("NUL byte", JsonNode.Parse(await nul.Content.ReadAsStringAsync())!["error"]!["message"]!.GetValue<string>());
            }
            Assert.Empty(service.Learned());
            await app.StopAsync();
        }
    }

    [Fact]
    public async Task Concurrent_asks_during_learns_all_succeed_and_latencies_are_reported()
    {
        await using var h = await ServeHost.StartAsync(fx.Options() with { CheckpointEvery = 3 });
        var askTimes = new System.Collections.Concurrent.ConcurrentBag<double>();
        var learnTimes = new List<double>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        bool learning = true;
        var askers = Enumerable.Range(0, 3).Select(i => Task.Run(async () =>
        {
            int n = 0;
            while (Volatile.Read(ref learning) && n < 40 && !cts.IsCancelled())
            {
                var sw = Stopwatch.StartNew();
                var (status, _) = await h.PostAsync("/ask", new { prompt = $"Where does person {i} live?", max_tokens = 8 }, token: null);
                Assert.Equal(200, status);
                askTimes.Add(sw.Elapsed.TotalMilliseconds);
                n++;
            }
        })).ToArray();
        string[] people = ["Ada", "Bela", "Cyril", "Dora", "Emil", "Fenna", "Gus", "Hana"];
        foreach (var p in people)
        {
            var sw = Stopwatch.StartNew();
            await h.LearnAsync($"{p} lives in Zorn.");
            learnTimes.Add(sw.Elapsed.TotalMilliseconds);
        }
        Volatile.Write(ref learning, false);
        await Task.WhenAll(askers);
        SameTable(h.Service.SnapshotLearnerValues(), h.Service.SnapshotValues(), "learner and served tables after concurrent load");
        output.WriteLine($"learn latency ms: p50 {Percentile(learnTimes, 50):F1}, p95 {Percentile(learnTimes, 95):F1} (n={learnTimes.Count}); " +
                         $"ask latency ms (8 tokens, 3 concurrent): p50 {Percentile(askTimes, 50):F1}, p95 {Percentile(askTimes, 95):F1} (n={askTimes.Count})");
        Assert.True(askTimes.Count >= 3);
    }

    static double Percentile(IEnumerable<double> xs, double p)
    {
        var s = xs.Order().ToArray();
        return s.Length == 0 ? double.NaN : s[Math.Clamp((int)Math.Ceiling(p / 100 * s.Length) - 1, 0, s.Length - 1)];
    }
}

static class CtsExtensions
{
    public static bool IsCancelled(this CancellationTokenSource cts) => cts.IsCancellationRequested;
}
