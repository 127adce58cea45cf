using System.Text.Json.Nodes;
using SparseMemory.Runs.Serve;
using SparseMemory.Serve;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Serve;

/// <summary>
/// The request line and header limits on the real server (Kestrel, as smf serve runs it): the service's own limits answer
/// with a JSON error naming the limit; only beyond Kestrel's raised limits does Kestrel answer with its empty 414 or 431.
/// </summary>
public sealed class ServeRequestLimitTests(ServeFixture fx, ITestOutputHelper output) : IClassFixture<ServeFixture>
{
    [Fact]
    public async Task Too_long_targets_and_too_large_headers_get_json_errors_naming_the_limit()
    {
        var options = fx.Options();
        using var service = new MemoryService(options);
        var app = ServeApp.Build(service, options, "http://127.0.0.1:0");
        await using (app)
        {
            var uri = new Uri(Assert.Single(await ServeApp.StartCheckedAsync(app, allowRemote: false)));
            using var http = new HttpClient { BaseAddress = uri, Timeout = TimeSpan.FromSeconds(60) };

            async Task<(int Status, string Body)> Send(string path, int padHeaders = 0, int padBytes = 0)
            {
                using var m = new HttpRequestMessage(HttpMethod.Get, path);
                for (int i = 0; i < padHeaders; i++) m.Headers.TryAddWithoutValidation($"X-Pad-{i}", new string('p', padBytes));
                using var res = await http.SendAsync(m);
                string body = await res.Content.ReadAsStringAsync();
                output.WriteLine($"{path[..Math.Min(path.Length, 24)]}… ({path.Length} chars, {padHeaders} × {padBytes} B headers) → {(int)res.StatusCode}: {body[..Math.Min(body.Length, 200)]}");
                return ((int)res.StatusCode, body);
            }

            // Within the limits: an ordinary answer, also with a target and headers just under them.
            Assert.Equal(200, (await Send("/health")).Status);
            Assert.Equal(200, (await Send("/health?" + new string('q', 8000))).Status);
            Assert.Equal(200, (await Send("/health", padHeaders: 3, padBytes: 10 * 1024)).Status);

            // A 10 KiB path: the service's 414, with the limit in the message.
            var (status, body) = await Send("/" + new string('a', 10 * 1024));
            Assert.Equal(414, status);
            var error = JsonNode.Parse(body)!["error"]!;
            Assert.Equal(414, error["code"]!.GetValue<int>());
            Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
            Assert.Contains($"at most {ServeApp.MaxRequestTargetBytes} bytes", error["message"]!.GetValue<string>());

            // Under /v1 the same refusal in OpenAI's error shape.
            (status, body) = await Send("/v1/completions?" + new string('a', 10 * 1024));
            Assert.Equal(414, status);
            error = JsonNode.Parse(body)!["error"]!;
            Assert.Equal("request_target_too_long", error["code"]!.GetValue<string>());
            Assert.Null(error["param"]);

            // 40 KiB of headers: the service's 431.
            (status, body) = await Send("/health", padHeaders: 5, padBytes: 8 * 1024);
            Assert.Equal(431, status);
            error = JsonNode.Parse(body)!["error"]!;
            Assert.Equal(431, error["code"]!.GetValue<int>());
            Assert.Contains($"at most {ServeApp.MaxHeaderBytes} bytes", error["message"]!.GetValue<string>());

            // More than 100 small headers: 431 naming the count.
            (status, body) = await Send("/health", padHeaders: 150, padBytes: 4);
            Assert.Equal(431, status);
            Assert.Contains($"at most {ServeApp.MaxHeaderCount}", JsonNode.Parse(body)!["error"]!["message"]!.GetValue<string>());

            // Beyond Kestrel's raised limits Kestrel answers itself, with no body (docs/serve.md gives these numbers).
            (status, body) = await Send("/" + new string('a', ServeApp.KestrelMaxRequestLineBytes + 1024));
            Assert.Equal(414, status);
            Assert.Empty(body);
            (status, body) = await Send("/health", padHeaders: 40, padBytes: 8 * 1024);
            Assert.Equal(431, status);
            Assert.Empty(body);

            // Still serving after the refusals.
            Assert.Equal(200, (await Send("/health")).Status);
            Assert.Empty(service.Learned());
            await app.StopAsync();
        }
    }
}
