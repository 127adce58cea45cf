using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using SparseMemory.Runs.Serve;
using SparseMemory.Serve;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Serve;

/// <summary>
/// The NUL-in-path filter: exact output on pipelined HTTP/1.1 input however the bytes are split, bodies and queries
/// untouched, and on the real server a JSON 400 for <c>%00</c> in a path, in order among pipelined requests.
/// </summary>
public sealed class NulPathFilterTests(ServeFixture fx, ITestOutputHelper output) : IClassFixture<ServeFixture>
{
    static string Filter(string input, int chunk)
    {
        var filter = new NulPathFilter();
        var buffer = new ArrayBufferWriter<byte>();
        byte[] bytes = Encoding.Latin1.GetBytes(input);
        for (int i = 0; i < bytes.Length; i += chunk) filter.Feed(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i)), buffer);
        return Encoding.Latin1.GetString(buffer.WrittenSpan);
    }

    const string Marker = NulPathFilter.MarkerHeader + ": 1\r\n";

    // A Content-Length body and a chunked body that both hold text shaped like a request line with %00, and a query with
    // %00: all pass unchanged; only the paths of the second and fifth requests are rewritten and marked.
    static readonly string[] Requests =
    [
        "POST /learn HTTP/1.1\r\nHost: a\r\nContent-Length: 26\r\n\r\nGET /undo/%00 HTTP/1.1\r\n\r\n",
        "POST /undo/%00 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /health?x=%00 HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /learn HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nGET /\r\n11\r\nundo/%00 HTTP/1.1\r\n0\r\nX-Trailer: %00\r\n\r\n",
        "\r\nGET /a%0%00b%0a\0c%2 HTTP/1.0\r\n\r\n",
    ];

    static readonly string[] Expected =
    [
        Requests[0],
        "POST /undo/%EF%BF%BD HTTP/1.1\r\n" + Marker + "Host: a\r\n\r\n",
        Requests[2],
        Requests[3],
        "\r\nGET /a%0%EF%BF%BDb%0a%EF%BF%BDc%2 HTTP/1.0\r\n" + Marker + "\r\n",
    ];

    [Fact]
    public void Pipelined_requests_are_rewritten_only_in_paths_however_the_bytes_are_split()
    {
        string input = string.Concat(Requests), expected = string.Concat(Expected);
        foreach (int chunk in new[] { 1, 2, 3, 7, 64, input.Length })
            Assert.Equal(expected, Filter(input, chunk));
    }

    [Fact]
    public void Anything_not_followed_passes_through_unchanged()
    {
        // HTTP/2's preface, an upgrade, conflicting lengths, a bad chunk size: from there on the bytes pass as they are.
        foreach (string head in new[]
                 {
                     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                     "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                     "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                 })
        {
            const string after = "GET /undo/%00 HTTP/1.1\r\n\r\n";
            var filter = new NulPathFilter();
            var buffer = new ArrayBufferWriter<byte>();
            filter.Feed(Encoding.Latin1.GetBytes(head + after), buffer);
            Assert.True(filter.PassingThrough, head);
            Assert.Equal(head + after, Encoding.Latin1.GetString(buffer.WrittenSpan));
        }
    }

    [Fact]
    public async Task The_real_server_answers_a_nul_path_with_json_in_order_among_pipelined_requests()
    {
        var options = fx.Options();
        using var service = new MemoryService(options);
        var app = ServeApp.Build(service, options, "http://127.0.0.1:0");
        await using (app)
        {
            var uri = new Uri(Assert.Single(await ServeApp.StartCheckedAsync(app, allowRemote: false)));
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, uri.Port);
            var stream = client.GetStream();
            string auth = $"Authorization: Bearer {ServeFixture.Token}\r\n";
            string pipelined =
                $"GET /health?x=%00 HTTP/1.1\r\nHost: localhost\r\n\r\n" +
                $"POST /undo/%00 HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: 0\r\n\r\n" +
                $"POST /undo/7 HTTP/1.1\r\nHost: localhost\r\n{auth}Transfer-Encoding: chunked\r\n\r\n4\r\n%00 \r\n0\r\n\r\n" +
                $"GET /v1/models/%00 HTTP/1.1\r\nHost: localhost\r\n\r\n" +
                $"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(pipelined));
            using var reader = new StreamReader(stream, Encoding.UTF8);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string all = await reader.ReadToEndAsync(timeout.Token);
            output.WriteLine(all);

            var responses = all.Split("HTTP/1.1 ", StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(5, responses.Length);
            Assert.StartsWith("200", responses[0]);                       // %00 in a query is the application's to read
            Assert.StartsWith("400", responses[1]);
            Assert.Contains("NUL byte", JsonBody(responses[1])["error"]!["message"]!.GetValue<string>());
            Assert.Equal(400, JsonBody(responses[1])["error"]!["code"]!.GetValue<int>());
            Assert.StartsWith("404", responses[2]);                        // learn 7 does not exist: the chunked body passed intact
            Assert.StartsWith("400", responses[3]);                        // OpenAI's error shape under /v1
            Assert.Equal("nul_in_path", JsonBody(responses[3])["error"]!["code"]!.GetValue<string>());
            Assert.StartsWith("200", responses[4]);
            Assert.Empty(service.Learned());
            await app.StopAsync();
        }
    }

    static JsonNode JsonBody(string response)
    {
        string body = response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        return JsonNode.Parse(body[body.IndexOf('{')..(body.LastIndexOf('}') + 1)])!;
    }
}
