using System.Diagnostics;
using System.Text.Json.Nodes;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Serve;

/// <summary>A test that needs node on PATH (Debian package nodejs); skipped with the reason when it is absent.</summary>
public sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        if (Node.Path is null) Skip = "node is not on PATH (Debian package nodejs); it runs the page's script and the openai client";
    }
}

/// <summary>A test that needs node and OpenAI's npm client in tests/js/node_modules; skipped with the reason when either is absent.</summary>
public sealed class OpenAiClientFactAttribute : FactAttribute
{
    public OpenAiClientFactAttribute()
    {
        if (Node.Path is null) Skip = "node is not on PATH (Debian package nodejs); the openai client test needs it";
        else if (!File.Exists(System.IO.Path.Combine(Node.JsDir, "node_modules", "openai", "package.json")))
            Skip = "OpenAI's npm client is not installed: run 'npm install --prefix tests/js' (.ci/run does it when the npm registry is reachable)";
    }
}

/// <summary>Finds and runs node.</summary>
public static class Node
{
    /// <summary>The node executable, or null.</summary>
    public static string? Path { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator)
        .Select(d => System.IO.Path.Combine(d, "node")).FirstOrDefault(File.Exists);

    /// <summary>The repository's tests/js folder.</summary>
    public static string JsDir
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(System.IO.Path.Combine(d.FullName, "SparseMemory.sln"))) return System.IO.Path.Combine(d.FullName, "tests", "js");
            throw new DirectoryNotFoundException($"no SparseMemory.sln above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>Runs node with <paramref name="args"/>; returns the exit code, stdout and stderr.</summary>
    public static (int Code, string Out, string Err) Run(IEnumerable<string> args, IDictionary<string, string>? env = null, int timeoutSeconds = 120)
    {
        var psi = new ProcessStartInfo(Path!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = JsDir };
        foreach (string a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000)) { p.Kill(); throw new TimeoutException($"node {string.Join(' ', args)} ran past {timeoutSeconds} s"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}

/// <summary>The page's script (run in node with a stub DOM) and OpenAI's own npm client against the real <c>smf serve</c>.</summary>
public sealed class ServeNodeTests(ServeFixture fx, ITestOutputHelper output) : IClassFixture<ServeFixture>
{
    /// <summary>
    /// With the token field empty the page sends no Authorization header (the server then answers "missing
    /// Authorization header"), and with a token it sends "Bearer TOKEN". Before, it sent "Bearer " with nothing after it.
    /// </summary>
    [NodeFact]
    public void The_page_sends_no_empty_bearer_header()
    {
        string page = System.IO.Path.Combine(Node.JsDir, "..", "..", "src", "SparseMemory.Serve", "index.html");
        var (code, stdout, stderr) = Node.Run(["page-headers.mjs", page]);
        output.WriteLine(stdout + stderr);
        Assert.True(code == 0, stderr);
        var result = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
        foreach (var r in result["empty"]!.AsArray()) Assert.Null(r!["authorization"]);
        Assert.Equal(2, result["empty"]!.AsArray().Count);
        foreach (var r in result["abc"]!.AsArray()) Assert.Equal("Bearer abc", r!["authorization"]!.GetValue<string>());
    }

    /// <summary>
    /// OpenAI's official npm client (tests/js/package.json) drives /v1/completions of the real smf serve: a plain
    /// completion, max_tokens (finish_reason length and the usage it reports), a stop sequence, n = 2 sampled choices,
    /// echo with logprobs 2 (the prompt then the plain text, a token, log-probability, at most 2 alternatives and an
    /// offset per token, null first), a stream with include_usage and a stopped stream (each the same text as without streaming), and another model's
    /// name (the client's 404 with code model_not_found). The client must parse every answer, streamed or not.
    /// </summary>
    [OpenAiClientFact]
    public async Task The_official_openai_client_reads_completions_streams_stops_and_choices()
    {
        string tokenFile = System.IO.Path.Combine(fx.Root, "token-openai-" + Guid.NewGuid().ToString("N")[..6]);
        File.WriteAllText(tokenFile, ServeFixture.Token);
        int port = FreePort();
        using var server = ServeProcess.Start(["serve", "--model", fx.BaseDir, "--urls", $"http://127.0.0.1:{port}", "--token-file", tokenFile,
            "--state", fx.NewStateDir(), "--paraphrases", "4", "--protect-ask"], port);
        await server.WaitHealthyAsync();
        string model = System.IO.Path.GetFileName(fx.BaseDir);
        var (code, stdout, stderr) = Node.Run(["openai-client.mjs"], new Dictionary<string, string>
        {
            ["SMF_URL"] = $"http://127.0.0.1:{port}", ["SMF_TOKEN"] = ServeFixture.Token, ["SMF_MODEL"] = model,
        });
        output.WriteLine(stdout);
        Assert.True(code == 0, $"node exited {code}:\n{stderr}\n{server.Log}");
        var r = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
        string text = r["plain"]!["text"]!.GetValue<string>();
        Assert.Equal("text_completion", r["plain"]!["object"]!.GetValue<string>());
        Assert.StartsWith("cmpl-", r["plain"]!["id"]!.GetValue<string>());
        int completion = r["plain"]!["usage"]!["completion_tokens"]!.GetValue<int>();
        Assert.InRange(completion, 1, 8);
        Assert.Equal(completion == 8 ? "length" : "stop", r["plain"]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(r["plain"]!["usage"]!["prompt_tokens"]!.GetValue<int>() + completion, r["plain"]!["usage"]!["total_tokens"]!.GetValue<int>());
        if (r["short"]!["usage"]!["completion_tokens"]!.GetValue<int>() == 2) Assert.Equal("length", r["short"]!["finish_reason"]!.GetValue<string>());
        Assert.InRange(r["short"]!["usage"]!["completion_tokens"]!.GetValue<int>(), 1, 2);
        string stop = r["stopped"]!["stop"]!.GetValue<string>();
        int at = text.IndexOf(stop, StringComparison.Ordinal);
        if (at >= 0)
        {
            Assert.Equal(text[..at], r["stopped"]!["text"]!.GetValue<string>());
            Assert.Equal("stop", r["stopped"]!["finish_reason"]!.GetValue<string>());
        }
        Assert.Equal(r["stopped"]!["text"]!.GetValue<string>(), r["stoppedStream"]!["text"]!.GetValue<string>());
        var many = r["many"]!.AsArray();
        Assert.Equal([0, 1], many.Select(c => c!["index"]!.GetValue<int>()));
        Assert.Equal(text, r["stream"]!["text"]!.GetValue<string>());
        Assert.Equal(r["plain"]!["finish_reason"]!.GetValue<string>(), r["stream"]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(r["plain"]!["usage"]!.ToJsonString(), r["stream"]!["usage"]!.ToJsonString());
        var scored = r["scored"]!;
        Assert.Equal("Ada lives in" + text, scored["text"]!.GetValue<string>());
        Assert.Equal(r["plain"]!["usage"]!.ToJsonString(), scored["usage"]!.ToJsonString());
        int tokens = scored["tokens"]!.AsArray().Count;
        Assert.Equal(r["plain"]!["usage"]!["total_tokens"]!.GetValue<int>(), tokens);
        foreach (string field in new[] { "token_logprobs", "top_logprobs", "text_offset" }) Assert.Equal(tokens, scored[field]!.AsArray().Count);
        Assert.Null(scored["token_logprobs"]![0]);
        Assert.Null(scored["top_logprobs"]![0]);
        Assert.All(scored["token_logprobs"]!.AsArray().Skip(1), v => Assert.True(v!.GetValue<double>() <= 0));
        Assert.All(scored["top_logprobs"]!.AsArray().Skip(1), t => Assert.InRange(t!.AsObject().Count, 1, 2));
        Assert.Equal(404, r["wrongModel"]!["status"]!.GetValue<int>());
        Assert.Equal("model_not_found", r["wrongModel"]!["code"]!.GetValue<string>());
    }

    static int FreePort() => ServeProcess.FreePort();
}
