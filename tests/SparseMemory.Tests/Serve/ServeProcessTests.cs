using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using SparseMemory.Model;
using SparseMemory.Runs.Serve;
using SparseMemory.Serve;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Serve;

/// <summary>The real <c>smf serve</c> process, killed with SIGKILL mid-learn: every acknowledged learn survives exactly once.</summary>
public sealed class ServeProcessTests(ServeFixture fx, ITestOutputHelper output) : IClassFixture<ServeFixture>
{
    /// <summary>
    /// A bounded load on the real process: two clients teach 4 facts each while three clients ask and complete without
    /// pause (every ask and learn answered 200, all torch work on the one torch thread), then two more learns are in
    /// flight when the process is killed with SIGKILL. After restart every acknowledged learn is present exactly once,
    /// each in-flight one at most once, and a greedy completion is what it was before the kill once those are undone.
    /// The settings come from --config (flags on top), are frozen as serve-config.json, and a token file readable by
    /// others is warned about.
    /// </summary>
    [Fact]
    public async Task Kill_9_during_learns_under_concurrent_asks_loses_no_acknowledged_learn_and_duplicates_none()
    {
        string state = fx.NewStateDir();
        string tokenFile = Path.Combine(fx.Root, "token-" + Guid.NewGuid().ToString("N")[..6]);
        File.WriteAllText(tokenFile, ServeFixture.Token + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        string config = Path.Combine(fx.Root, "serve-" + Guid.NewGuid().ToString("N")[..6] + ".json");
        File.WriteAllText(config, $$"""{ "model": {{System.Text.Json.JsonSerializer.Serialize(fx.BaseDir)}}, "paraphrases": 4, "checkpoint_every": 3, "learns_per_minute": 0, "top_t": 100 }""");
        int port = FreePort();
        using var server = ServeProcess.Start(["serve", "--config", config, "--urls", $"http://127.0.0.1:{port}", "--token-file", tokenFile,
            "--state", state, "--checkpoint-every", "2"], port);
        var http = server.Http;
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ServeFixture.Token);
        var acked = new System.Collections.Concurrent.ConcurrentBag<long>();
        string expectedText;
        int asks = 0;
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        try
        {
            await server.WaitHealthyAsync();
            if (!OperatingSystem.IsWindows()) Assert.Contains("chmod 600", server.Log);
            var frozen = JsonNode.Parse(File.ReadAllText(Path.Combine(state, ServeConfig.FileName)))!;
            Assert.Equal(4, frozen["paraphrases"]!.GetValue<int>());            // from --config
            Assert.Equal(2, frozen["checkpoint_every"]!.GetValue<int>());       // the flag wins over --config
            Assert.Equal(100, frozen["top_t"]!.GetValue<int>());
            Assert.Equal(tokenFile, frozen["token_file"]!.GetValue<string>());
            Assert.DoesNotContain(ServeFixture.Token, File.ReadAllText(Path.Combine(state, ServeConfig.FileName)));

            using var stopAsking = new CancellationTokenSource();
            var askers = Enumerable.Range(0, 3).Select(a => Task.Run(async () =>
            {
                while (!stopAsking.IsCancellationRequested)
                {
                    object body = a == 0 ? new { prompt = "Where does Ada live?", max_tokens = 6 } : new { prompt = "Ada lives in", max_tokens = 6 };
                    using var res = await http.PostAsJsonAsync(a == 0 ? "/ask" : "/v1/completions", body);
                    if (res.StatusCode != HttpStatusCode.OK) failures.Add($"ask: {(int)res.StatusCode} {await res.Content.ReadAsStringAsync()}");
                    Interlocked.Increment(ref asks);
                }
            })).ToArray();
            var learners = Enumerable.Range(0, 2).Select(l => Task.Run(async () =>
            {
                foreach (string p in new[] { "Ada", "Bela", "Cyril", "Dora" })
                {
                    using var res = await http.PostAsJsonAsync("/learn", new { text = $"{p} {l} lives in Zorn." });
                    if (res.StatusCode != HttpStatusCode.OK) { failures.Add($"learn: {(int)res.StatusCode} {await res.Content.ReadAsStringAsync()}"); continue; }
                    acked.Add(JsonNode.Parse(await res.Content.ReadAsStringAsync())!["id"]!.GetValue<long>());
                }
            })).ToArray();
            await Task.WhenAll(learners);
            stopAsking.Cancel();
            await Task.WhenAll(askers);
            Assert.True(failures.IsEmpty, string.Join("\n", failures));
            Assert.Equal(8, acked.Count);
            output.WriteLine($"{asks} asks answered during 8 learns");
            Assert.True(asks > 0);
            using (var res = await http.PostAsJsonAsync("/v1/completions", new { prompt = "Ada lives in", max_tokens = 8 }))
                expectedText = JsonNode.Parse(await res.Content.ReadAsStringAsync())!["choices"]![0]!["text"]!.GetValue<string>();
            // Learns and asks in flight when the process dies: each learn may land or not, but never twice.
            var inFlight = new[] { "Fenna", "Gerd" }.Select(p => http.PostAsJsonAsync("/learn", new { text = $"{p} lives in Umber." })).ToList();
            var asking = http.PostAsJsonAsync("/ask", new { prompt = "Where does Fenna live?" });
            await Task.Delay(Random.Shared.Next(0, 60));
            server.Kill();                                      // SIGKILL: no shutdown, no final checkpoint
            foreach (var t in inFlight.Append(asking))
                try { (await t).Dispose(); } catch (HttpRequestException) { } catch (TaskCanceledException) { }
        }
        finally { server.Kill(); }

        using var service = new MemoryService(fx.Options(state) with { TopT = 100 });
        var ids = service.Learned().Select(l => l.Id).ToArray();
        output.WriteLine($"after kill -9: learns {string.Join(", ", ids)}; replayed {service.Replayed} journal line(s)");
        Assert.Equal(ids.Distinct().Order(), ids);
        Assert.Subset(ids.ToHashSet(), acked.ToHashSet());
        Assert.InRange(ids.Length, acked.Count, acked.Count + 2);
        foreach (long extra in ids.Except(acked).OrderDescending()) await service.UndoAsync(extra, cascade: true);
        Assert.Equal(expectedText, service.Generate("Ada lives in", new SamplingOptions(8)));
    }

    [Fact]
    public void Serve_help_lists_config_and_allowed_hosts()
    {
        var (code, stdout, _) = Smf.Run("serve", "--help");
        Assert.Equal(0, code);
        foreach (string option in new[] { "--config", "--allowed-hosts", "--allow-remote", "--urls", "--token-file" })
            Assert.Contains(option, stdout);
    }

    [Fact]
    public void Serve_config_errors_name_the_key_before_anything_is_loaded()
    {
        string dir = Fixtures.TempDir("serve-config");
        string bad = Path.Combine(dir, "bad.json");
        File.WriteAllText(bad, """{ "model": "/nonexistent-model", "token_file": "/nonexistent-token", "top_tt": 5 }""");
        var (code, _, err) = Smf.Run("serve", "--config", bad);
        Assert.Equal(2, code);
        Assert.Contains($"{bad}", err);
        Assert.Contains("unknown key at top_tt", err);
        var (code2, _, err2) = Smf.Run("serve", "--token-file", "/nonexistent-token", "--set", "steps_per_learn=0");
        Assert.Equal(2, code2);
        Assert.Contains("model is required", err2);
        Assert.Contains("--steps-per-learn must be in 1..100", err2);
        var (code3, _, err3) = Smf.Run("serve", "--model", "/m", "--token-file", "/t", "--set", "top_k=3");
        Assert.Equal(2, code3);
        Assert.Contains("unknown key \"top_k\"", err3);
        var cfg = ServeConfig.Load(null, [ServeConfig.Set("model", "/m"), ServeConfig.Set("token_file", "/t"), ServeConfig.Set("lr", 0.5),
            ServeConfig.Set("allowed_hosts", new[] { "a.example" }), "top_t=7"]);
        Assert.Equal((0.5, 7, "a.example"), (cfg.Lr!.Value, cfg.TopT, cfg.AllowedHosts.Single()));
    }

    static int FreePort() => ServeProcess.FreePort();
}

/// <summary>A real <c>smf serve</c> process on a port, with its output collected.</summary>
public sealed class ServeProcess : IDisposable
{
    readonly Process _process;
    readonly System.Text.StringBuilder _log = new();

    ServeProcess(Process process, int port)
    {
        _process = process;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>A client for the server's address.</summary>
    public HttpClient Http { get; }

    /// <summary>What the process wrote so far (stdout and stderr).</summary>
    public string Log { get { lock (_log) return _log.ToString(); } }

    /// <summary>A loopback port free at the time of asking.</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Starts the built <c>smf</c> with <paramref name="args"/>.</summary>
    public static ServeProcess Start(IEnumerable<string> args, int port)
    {
        string smf = Path.Combine(AppContext.BaseDirectory, "smf");
        Assert.True(File.Exists(smf), $"{smf} not found (the test project references the CLI)");
        var psi = new ProcessStartInfo(smf) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        var p = new ServeProcess(process, port);
        process.OutputDataReceived += (_, e) => { lock (p._log) p._log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (p._log) p._log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return p;
    }

    /// <summary>Waits until /health answers (90 s at most).</summary>
    public async Task WaitHealthyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            Assert.False(_process.HasExited, $"smf serve exited early:\n{Log}");
            try { if ((await Http.GetAsync("/health")).IsSuccessStatusCode) return; }
            catch (HttpRequestException) { }
            Assert.True(DateTime.UtcNow < deadline, $"smf serve did not answer /health in 90 s:\n{Log}");
            await Task.Delay(200);
        }
    }

    /// <summary>SIGKILL (no shutdown), and waits for the exit.</summary>
    public void Kill()
    {
        if (_process.HasExited) return;
        _process.Kill();
        _process.WaitForExit();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Kill();
        Http.Dispose();
        _process.Dispose();
    }
}
