using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using SparseMemory.Finetuning;
using SparseMemory.Runs;
using SparseMemory.Runs.Serve;
using SparseMemory.Serve;
using SparseMemory.Training;

namespace SparseMemory.Tests.Serve;

/// <summary>One tiny pretrained checkpoint with background statistics, shared by the serve tests.</summary>
public sealed class ServeFixture
{
    public const string Token = "test-token-123";
    public string Root { get; } = Fixtures.TempDir("serve");
    public string BaseDir { get; }

    public ServeFixture()
    {
        BaseDir = Path.Combine(Root, "base");
        Pretraining.Run(Fixtures.TinyConfig(Fixtures.WriteCorpus(Root), steps: 10), BaseDir, NullObserver.Instance);
        BackgroundStatsBuilder.Build(BaseDir, 20, 4, 16, 1).Save(Path.Combine(BaseDir, BackgroundStatsBuilder.FileName));
    }

    public string NewStateDir() => Path.Combine(Root, "state-" + Guid.NewGuid().ToString("N")[..8]);

    public ServeOptions Options(string? stateDir = null) => new()
    {
        ModelDir = BaseDir, StateDir = stateDir ?? NewStateDir(), Token = Token, Paraphrases = 4, CheckpointEvery = 0,
    };
}

/// <summary>The service and its HTTP app on an in-process TestServer.</summary>
public sealed class ServeHost : IAsyncDisposable
{
    public MemoryService Service { get; }
    public WebApplication App { get; }
    public HttpClient Client { get; }
    /// <summary>Checks every JSON response of <see cref="Client"/> against the OpenAPI document (status declared, body valid).</summary>
    public ContractCheckingHandler Contract { get; }
    bool _crashed;

    ServeHost(MemoryService service, WebApplication app)
    {
        Service = service;
        App = app;
        var server = app.GetTestServer();
        Contract = new ContractCheckingHandler(server.CreateHandler());
        Client = new HttpClient(Contract) { BaseAddress = server.BaseAddress };
    }

    public static async Task<ServeHost> StartAsync(ServeOptions options)
    {
        var service = new MemoryService(options);
        var app = ServeApp.Build(service, options, urls: null, b => b.WebHost.UseTestServer());
        await app.StartAsync();
        return new ServeHost(service, app);
    }

    public HttpRequestMessage Request(HttpMethod method, string path, object? body = null, string? token = ServeFixture.Token)
    {
        var m = new HttpRequestMessage(method, path);
        if (body is string raw) m.Content = new StringContent(raw, Encoding.UTF8, "application/json");
        else if (body is not null) m.Content = JsonContent.Create(body);
        if (token is not null) m.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return m;
    }

    public async Task<(int Status, JsonNode? Json)> SendAsync(HttpMethod method, string path, object? body = null, string? token = ServeFixture.Token)
    {
        using var res = await Client.SendAsync(Request(method, path, body, token));
        string text = await res.Content.ReadAsStringAsync();
        JsonNode? json = null;
        try { json = text.Length > 0 ? JsonNode.Parse(text) : null; } catch (JsonException) { }
        return ((int)res.StatusCode, json);
    }

    public Task<(int Status, JsonNode? Json)> PostAsync(string path, object? body = null, string? token = ServeFixture.Token) =>
        SendAsync(HttpMethod.Post, path, body, token);

    public Task<(int Status, JsonNode? Json)> GetAsync(string path) => SendAsync(HttpMethod.Get, path, null, null);

    /// <summary>Learns and returns the id (asserting 200).</summary>
    public async Task<long> LearnAsync(string text, string? question = null, string? answer = null)
    {
        var (status, json) = await PostAsync("/learn", question is null ? new { text } : new { text, question, answer });
        if (status != 200) throw new InvalidOperationException($"learn failed: {status} {json?.ToJsonString()}");
        return json!["id"]!.GetValue<long>();
    }

    /// <summary>Stops without the final checkpoint, as a crash would (the journal is already durable).</summary>
    public async Task CrashAsync()
    {
        _crashed = true;
        await App.StopAsync();
        await App.DisposeAsync();
        Service.Abandon();
    }

    public async ValueTask DisposeAsync()
    {
        if (_crashed) return;
        await App.StopAsync();
        await App.DisposeAsync();
        Service.Dispose();
    }
}
