using System.Text.Json.Nodes;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Serve;

/// <summary>
/// The OpenAPI document is the contract: it is a structurally valid OpenAPI 3 document, numbers are numbers, the bearer
/// scheme guards the operations that need the token, the error statuses each operation returns are declared, and every
/// JSON response the serve tests receive through <see cref="ServeHost.Client"/> validates against the schema of its
/// operation and status (<see cref="ContractCheckingHandler"/>).
/// </summary>
public sealed class ServeOpenApiTests(ServeFixture fx, ITestOutputHelper output) : IClassFixture<ServeFixture>
{
    [Fact]
    public async Task The_document_is_openapi_3_with_numbers_security_and_the_error_answers_declared()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var contract = await h.Contract.ContractAsync();
        var problems = contract.CheckDocument();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        var doc = contract.Document;
        Assert.StartsWith("3.", doc["openapi"]!.GetValue<string>());
        Assert.Equal("[{\"url\":\"/\"}]", doc["servers"]!.ToJsonString());
        var bearer = doc["components"]!["securitySchemes"]!["bearer"]!;
        Assert.Equal("http", bearer["type"]!.GetValue<string>());
        Assert.Equal("bearer", bearer["scheme"]!.GetValue<string>());
        var schemas = doc["components"]!["schemas"]!;
        foreach (var (schema, field) in new[] { ("LearnResponse", "loss"), ("LearnResponse", "final_loss"), ("LearnResponse", "ms"), ("LearnedItem", "loss"),
                     ("HealthResponse", "lr"), ("StatsResponse", "lr"), ("CompletionBody", "temperature") })
        {
            string type = schemas[schema]!["properties"]![field]!["type"]!.ToJsonString();
            Assert.True(type is "\"number\"" or "[\"null\",\"number\"]", $"{schema}.{field}: {schemas[schema]!["properties"]![field]!.ToJsonString()}");
        }
        var learned = schemas["LearnedItem"]!;
        foreach (string field in new[] { "question", "answer", "undone_at" })
        {
            Assert.Contains(field, learned["required"]!.AsArray().Select(x => x!.GetValue<string>()));
            Assert.Contains("null", learned["properties"]![field]!["type"]!.ToJsonString());
        }
        var expected = new Dictionary<(string, string), int[]>
        {
            [("post", "/learn")] = [200, 400, 401, 413, 415, 422, 429, 500, 503],
            [("post", "/undo/{id}")] = [200, 400, 401, 404, 409, 500, 503],
            [("post", "/ask")] = [200, 400, 413, 415, 500, 503],
            [("post", "/v1/completions")] = [200, 400, 404, 413, 415, 500, 503],
            [("post", "/v1/chat/completions")] = [200, 400, 404, 413, 415, 500, 503],
            [("get", "/stats")] = [200, 400, 500],
            [("get", "/learned")] = [200, 400, 500],
            [("get", "/health")] = [200, 400, 500],
        };
        foreach (var ((method, path), statuses) in expected)
        {
            var op = doc["paths"]![path]![method]!;
            Assert.Equal(statuses.Select(s => s.ToString()).Order(), op["responses"]!.AsObject().Select(kv => kv.Key).Order());
            bool secured = op["security"] is JsonArray { Count: > 0 };
            Assert.True(secured == path is "/learn" or "/undo/{id}", $"{method} {path}: security {op["security"]?.ToJsonString()}");
        }
        Assert.Contains("text/event-stream", doc["paths"]!["/v1/completions"]!["post"]!["responses"]!["200"]!["content"]!.AsObject().Select(kv => kv.Key));

        await using var protectedHost = await ServeHost.StartAsync(fx.Options() with { ProtectAsk = true });
        var pdoc = (await protectedHost.Contract.ContractAsync()).Document;
        foreach (string path in new[] { "/ask", "/v1/completions", "/v1/chat/completions" })
        {
            Assert.NotNull(pdoc["paths"]![path]!["post"]!["security"]);
            Assert.NotNull(pdoc["paths"]![path]!["post"]!["responses"]!["401"]);
        }
    }

    /// <summary>
    /// Drives every operation through its success and error answers; the handler validates each JSON response. Before,
    /// /learned left out a null question, answer and undone_at that the schema marks required, so this failed there.
    /// </summary>
    [Fact]
    public async Task Every_json_response_matches_the_schema_of_its_operation_and_status()
    {
        await using var h = await ServeHost.StartAsync(fx.Options() with { CheckEvery = 2, CheckLimit = 2, LearnsPerMinute = 3 });
        var statuses = new List<int>();
        async Task Expect(int status, HttpMethod method, string path, object? body = null, string? token = ServeFixture.Token)
        {
            var (s, json) = await h.SendAsync(method, path, body, token);
            output.WriteLine($"{method} {path} → {s} {json?.ToJsonString()[..Math.Min(json.ToJsonString().Length, 160)]}");
            Assert.Equal(status, s);
            statuses.Add(s);
        }
        await Expect(200, HttpMethod.Get, "/health");
        await Expect(200, HttpMethod.Get, "/stats");
        await Expect(200, HttpMethod.Get, "/learned");
        await Expect(200, HttpMethod.Post, "/learn", new { text = "Ada lives in Zorn." });
        await Expect(200, HttpMethod.Post, "/learn", new { text = "Bela lives in Yelm.", question = "Where does Bela live?", answer = "Yelm" });
        await Expect(200, HttpMethod.Get, "/stats");                     // the check ran after two learns: at_start, latest, drift, history
        await Expect(200, HttpMethod.Post, "/undo/1?cascade=true");
        await Expect(200, HttpMethod.Get, "/learned");                   // an undone learn (undone_at set) and a text-only one (question null)
        await Expect(409, HttpMethod.Post, "/undo/1");
        await Expect(404, HttpMethod.Post, "/undo/99");
        await Expect(400, HttpMethod.Post, "/undo/x");
        await Expect(401, HttpMethod.Post, "/learn", new { text = "Cyril lives in Xant." }, token: "wrong");
        await Expect(400, HttpMethod.Post, "/learn", new { text = "" });
        await Expect(413, HttpMethod.Post, "/learn", "{\"text\": \"" + new string('a', 70_000) + "\"}");
        await Expect(200, HttpMethod.Post, "/learn", new { text = "Dora lives in Wick." });
        await Expect(429, HttpMethod.Post, "/learn", new { text = "Emil lives in Vale." });
        await Expect(200, HttpMethod.Post, "/ask", new { prompt = "Where does Ada live?", max_tokens = 3 });
        await Expect(400, HttpMethod.Post, "/ask", new { prompt = "Hi", max_tokens = 0 });
        await Expect(200, HttpMethod.Post, "/v1/completions", new { prompt = "Ada lives in", max_tokens = 3, n = 2, temperature = 1.0, seed = 1 });
        await Expect(200, HttpMethod.Post, "/v1/completions", new { prompt = "Ada lives in", max_tokens = 3, echo = true, logprobs = 2 });
        await Expect(200, HttpMethod.Post, "/v1/completions", new { prompt = "Ada lives in", max_tokens = 3, logprobs = 0 });
        await Expect(400, HttpMethod.Post, "/v1/completions", new { prompt = "Hi", logprobs = 6 });
        await Expect(400, HttpMethod.Post, "/v1/completions", new { prompt = "Hi", suffix = "x" });
        await Expect(404, HttpMethod.Post, "/v1/completions", new { prompt = "Hi", model = "other" });
        await Expect(200, HttpMethod.Post, "/v1/chat/completions", new { messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 3, n = 2 });
        await Expect(400, HttpMethod.Post, "/v1/chat/completions", new { messages = new[] { new { role = "tool", content = "Hi" } } });
        await Expect(404, HttpMethod.Post, "/v1/chat/completions", new { messages = new[] { new { role = "user", content = "Hi" } }, model = "other" });
        using (var wrongType = new HttpRequestMessage(HttpMethod.Post, "/learn") { Content = new StringContent("text=a", System.Text.Encoding.UTF8, "text/plain") })
        {
            wrongType.Headers.Authorization = new("Bearer", ServeFixture.Token);
            using var res = await h.Client.SendAsync(wrongType);
            Assert.Equal(415, (int)res.StatusCode);
        }
        output.WriteLine($"{h.Contract.Checked} responses checked");
        Assert.True(h.Contract.Checked >= statuses.Count + 1, $"only {h.Contract.Checked} responses were checked");
        await using var diverging = await ServeHost.StartAsync(fx.Options() with { Lr = 1e30 });
        Assert.Equal(422, (await diverging.PostAsync("/learn", new { text = "Ada lives in Zorn." })).Status);
        Assert.Equal(1, diverging.Contract.Checked);
    }

    /// <summary>
    /// The fields docs/serve.md lists for GET /stats and GET /learned are exactly those of real responses (with the
    /// forgetting check on and off, and a learn with and without question). Before, the docs left out value_rows, lr,
    /// top_t, steps_per_learn and the check's enabled, every, limit and history.
    /// </summary>
    [Fact]
    public async Task The_stats_and_learned_fields_in_the_docs_are_those_of_real_responses()
    {
        string docs = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "serve.md"));
        string Row(string endpoint) => docs.Split('\n').Single(l => l.StartsWith($"| `{endpoint}` |", StringComparison.Ordinal));
        static string[] Names(string text, string quote) =>
            System.Text.RegularExpressions.Regex.Matches(text, quote + "([a-z_]+)" + quote).Select(m => m.Groups[1].Value).ToArray();
        string stats = Row("GET /stats").Split('|')[3];
        int at = stats.IndexOf("`forgetting_check` with", StringComparison.Ordinal);
        var topDoc = Names(stats[..at], "`").Append("forgetting_check").Order().ToArray();
        var checkDoc = Names(stats[at..].Replace("`forgetting_check`", ""), "`").Order().ToArray();
        string learnedRow = Row("GET /learned").Split('|')[3];
        int items = learnedRow.IndexOf('[', StringComparison.Ordinal);
        var learnedTop = Names(learnedRow[..items], "\"").Order().ToArray();
        var learnedItem = Names(learnedRow[items..], "\"").Order().ToArray();

        foreach (int checkEvery in new[] { 0, 1 })
        {
            await using var h = await ServeHost.StartAsync(fx.Options() with { CheckEvery = checkEvery, CheckLimit = 2 });
            await h.LearnAsync("Ada lives in Zorn.");
            await h.LearnAsync("Bela lives in Yelm.", "Where does Bela live?", "Yelm");
            var (_, s) = await h.GetAsync("/stats");
            Assert.Equal(topDoc, s!.AsObject().Select(kv => kv.Key).Order().ToArray());
            Assert.Equal(checkDoc, s["forgetting_check"]!.AsObject().Select(kv => kv.Key).Order().ToArray());
            var (_, l) = await h.GetAsync("/learned");
            Assert.Equal(learnedTop, l!.AsObject().Select(kv => kv.Key).Order().ToArray());
            foreach (var item in l["learns"]!.AsArray())
                Assert.Equal(learnedItem, item!.AsObject().Select(kv => kv.Key).Order().ToArray());
        }
    }

    static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SparseMemory.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no SparseMemory.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>The checker itself fails on an undeclared status, a missing required field and a number sent as a string.</summary>
    [Fact]
    public async Task The_contract_check_refuses_what_the_document_does_not_allow()
    {
        await using var h = await ServeHost.StartAsync(fx.Options());
        var contract = await h.Contract.ContractAsync();
        Assert.Contains(contract.CheckResponse("POST", "/learn", 418, "{}")!, p => p.Contains("not declared"));
        Assert.NotEmpty(contract.CheckResponse("GET", "/learned", 200,
            "{\"count\":1,\"learns\":[{\"id\":1,\"time\":\"2026-01-01T00:00:00Z\",\"text\":\"a\",\"rows\":3,\"loss\":1.5,\"undone\":false}]}")!);
        Assert.NotEmpty(contract.CheckResponse("POST", "/undo/3", 200, "{\"undone\":[3],\"rows\":\"NaN\"}")!);
        Assert.Empty(contract.CheckResponse("POST", "/undo/3", 200, "{\"undone\":[3],\"rows\":7}")!);
        Assert.Null(contract.CheckResponse("GET", "/nowhere", 404, "{}"));
    }
}
