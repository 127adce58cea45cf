using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using SparseMemory.Model;
using SparseMemory.Serve;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Serve;

/// <summary>The real <c>smf serve</c> process, killed with SIGKILL mid-learn: every acknowledged learn survives exactly once.</summary>
public sealed class ServeProcessTests(ServeFixture fx, ITestOutputHelper output) : IClassFixture<ServeFixture>
{
    [Fact]
    public async Task Kill_9_during_a_learn_loses_no_acknowledged_learn_and_duplicates_none()
    {
        string smf = Path.Combine(AppContext.BaseDirectory, "smf");
        Assert.True(File.Exists(smf), $"{smf} not found (the test project references the CLI)");
        string state = fx.NewStateDir();
        string tokenFile = Path.Combine(fx.Root, "token-" + Guid.NewGuid().ToString("N")[..6]);
        File.WriteAllText(tokenFile, ServeFixture.Token + "\n");
        int port = FreePort();
        var psi = new ProcessStartInfo(smf)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (string a in new[] { "serve", "--model", fx.BaseDir, "--urls", $"http://127.0.0.1:{port}", "--token-file", tokenFile,
                     "--state", state, "--paraphrases", "4", "--checkpoint-every", "2" })
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ServeFixture.Token);
        var acked = new List<long>();
        string expectedText;
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (true)
            {
                Assert.False(process.HasExited, $"smf serve exited early:\n{log}");
                try { if ((await http.GetAsync("/health")).IsSuccessStatusCode) break; }
                catch (HttpRequestException) { }
                Assert.True(DateTime.UtcNow < deadline, $"smf serve did not answer /health in 90 s:\n{log}");
                await Task.Delay(200);
            }
            string[] people = ["Ada", "Bela", "Cyril", "Dora", "Emil"];
            foreach (var p in people)
            {
                using var res = await http.PostAsJsonAsync("/learn", new { text = $"{p} lives in Zorn." });
                Assert.Equal(HttpStatusCode.OK, res.StatusCode);
                acked.Add(JsonNode.Parse(await res.Content.ReadAsStringAsync())!["id"]!.GetValue<long>());
            }
            using (var res = await http.PostAsJsonAsync("/v1/completions", new { prompt = "Ada lives in", max_tokens = 8 }))
                expectedText = JsonNode.Parse(await res.Content.ReadAsStringAsync())!["choices"]![0]!["text"]!.GetValue<string>();
            // A learn in flight when the process dies: it may land or not, but never twice.
            var inFlight = http.PostAsJsonAsync("/learn", new { text = "Fenna lives in Umber." });
            await Task.Delay(Random.Shared.Next(0, 40));
            process.Kill();                                     // SIGKILL: no shutdown, no final checkpoint
            await process.WaitForExitAsync();
            try { (await inFlight).Dispose(); } catch (HttpRequestException) { } catch (TaskCanceledException) { }
        }
        finally
        {
            if (!process.HasExited) { process.Kill(); process.WaitForExit(); }
        }

        using var service = new MemoryService(fx.Options(state));
        var ids = service.Learned().Select(l => l.Id).ToArray();
        output.WriteLine($"after kill -9: learns {string.Join(", ", ids)}; replayed {service.Replayed} journal line(s)");
        Assert.Equal(ids.Distinct().Order(), ids);
        Assert.Subset(ids.ToHashSet(), acked.ToHashSet());
        Assert.InRange(ids.Length, acked.Count, acked.Count + 1);
        if (ids.Length > acked.Count) await service.UndoAsync(ids[^1], cascade: false);
        Assert.Equal(expectedText, service.Generate("Ada lives in", new SamplingOptions(8)));
    }

    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
