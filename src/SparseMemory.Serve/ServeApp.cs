using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SparseMemory.Data.Chat;
using SparseMemory.Data.Facts;
using SparseMemory.Model;
using SparseMemory.Runs.Serve;

namespace SparseMemory.Serve;

/// <summary>
/// The HTTP front of <see cref="MemoryService"/> (docs/serve.md): minimal-API endpoints, bearer-token checks, body and
/// field limits, a learn rate limit, the page at <c>/</c> and the OpenAPI document at <c>/openapi/v1.json</c>.
/// </summary>
public static class ServeApp
{
    /// <summary>
    /// Wire format: snake_case names, numbers as JSON numbers (so the OpenAPI schemas say <c>number</c>; no response
    /// carries NaN: losses are finite by the training step's checks, and the forgetting check writes null for a
    /// non-finite value), null members left out unless a contract keeps them (<see cref="LearnedItem"/>).
    /// </summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Most completions one /v1/completions request may ask for (<c>n</c>).</summary>
    public const int MaxChoices = 8;

    /// <summary>Most stop sequences in <c>stop</c> (as OpenAI).</summary>
    public const int MaxStops = 4;

    /// <summary>Changed row ids listed in a learn response at most (<c>changed_rows_truncated</c> says when more changed).</summary>
    public const int MaxListedRows = 64;

    /// <summary>
    /// Loads the <c>smf serve</c> config (<see cref="ServeConfig.Load"/>), checking the listening address first, on its
    /// own (<see cref="CheckLoopback"/>): a refused address is one line naming it, before anything else is read.
    /// </summary>
    public static ServeConfig LoadConfig(string? file, IEnumerable<string> overrides) =>
        ServeConfig.Load(file, overrides, c => { if (!string.IsNullOrWhiteSpace(c.Urls)) CheckLoopback(c.Urls, c.AllowRemote); });

    /// <summary>
    /// Refuses a non-loopback address unless <paramref name="allowRemote"/> (the token is sent in clear over plain HTTP).
    /// Each address is parsed as Kestrel parses it (<see cref="BindingAddress.Parse"/>), because Kestrel, not
    /// <see cref="Uri"/>, decides where to listen: a host that is neither <c>localhost</c> nor a literal IP address
    /// (<c>loopback</c>, <c>*</c>, <c>+</c>, any host name, <c>0.0.0.0@127.0.0.1</c>) makes Kestrel listen on every
    /// interface, even where <see cref="Uri.IsLoopback"/> says loopback. User information (<c>@</c>) is refused outright.
    /// </summary>
    public static void CheckLoopback(string urls, bool allowRemote)
    {
        var list = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (list.Length == 0) throw new ArgumentException("--urls is empty; give an address such as http://127.0.0.1:5077");
        foreach (string url in list) CheckAddress("--urls", url, allowRemote);
    }

    /// <summary>
    /// The addresses the server really listens on (Kestrel's list after start, ports resolved), checked by the same
    /// rule as <see cref="CheckLoopback"/>: a guard against listening on every interface through configuration that
    /// bypasses <c>--urls</c> (e.g. Kestrel endpoints set in the environment).
    /// </summary>
    public static void CheckBound(IEnumerable<string> bound, bool allowRemote)
    {
        foreach (string url in bound) CheckAddress("bound address", url, allowRemote);
    }

    /// <summary>Whether Kestrel binds <paramref name="host"/> to loopback only: <c>localhost</c>, or a literal loopback IP.</summary>
    public static bool IsLoopbackHost(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));

    static void CheckAddress(string what, string url, bool allowRemote)
    {
        if (url.Contains('@'))
            throw new ArgumentException($"{what}: '{url}' holds user information ('@'), which Kestrel does not read as such; give the address alone, e.g. http://127.0.0.1:5077");
        BindingAddress address;
        try { address = BindingAddress.Parse(url); }
        catch (FormatException) { throw new ArgumentException($"{what}: '{url}' is not a URL (e.g. http://127.0.0.1:5077)"); }
        if (string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase) && address.Port == 0)
            throw new ArgumentException($"{what}: {url}: Kestrel picks no free port for localhost (it listens on 127.0.0.1 and [::1] with one port); " +
                                        "give a port, or http://127.0.0.1:0 for a free one");
        if (!allowRemote && (address.IsUnixPipe || address.IsNamedPipe || !IsLoopbackHost(address.Host)))
            throw new ArgumentException($"{what}: {url} is not a loopback address (only localhost, 127.x.x.x or [::1]; a host name, *, + or 0.0.0.0 listens on every interface); " +
                                        "pass --allow-remote to listen on it (put TLS in front: the token travels in clear)");
    }

    /// <summary>
    /// Starts <paramref name="app"/> and returns the addresses it really listens on; stops it again and throws when one
    /// of them is not loopback and <paramref name="allowRemote"/> is false.
    /// </summary>
    public static async Task<IReadOnlyList<string>> StartCheckedAsync(WebApplication app, bool allowRemote)
    {
        await app.StartAsync();
        var bound = app.Urls.ToArray();
        try { CheckBound(bound, allowRemote); }
        catch (ArgumentException)
        {
            await app.StopAsync();
            throw;
        }
        return bound;
    }

    /// <summary>Builds the application around a started service; <paramref name="configure"/> may swap the server (tests: TestServer).</summary>
    public static WebApplication Build(MemoryService service, ServeOptions options, string? urls, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [], ContentRootPath = AppContext.BaseDirectory, ApplicationName = typeof(ServeApp).Assembly.GetName().Name,
        });
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            // Kestrel answers a request over its own limits with an empty 414 or 431 before the app runs; its limits are
            // raised well above the service's, which the first middleware enforces with a JSON body (CheckRequestSize).
            k.Limits.MaxRequestLineSize = KestrelMaxRequestLineBytes;
            k.Limits.MaxRequestHeadersTotalSize = KestrelMaxHeaderBytes;
            k.Limits.MaxRequestHeaderCount = KestrelMaxHeaderCount;
            // Kestrel refuses a NUL in the path with an empty 400 before the app runs; the filter marks such a request
            // instead, and the first middleware answers it with JSON (NulPathFilter).
            k.ConfigureEndpointDefaults(l => l.Use(NulPathFilter.Middleware));
        });
        if (urls is not null) builder.WebHost.UseUrls(urls);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);   // no line per request
        // The servers entry is the relative "/", never the request's Host (the document would otherwise echo whatever Host a client sent).
        builder.Services.AddOpenApi(o =>
        {
            o.AddDocumentTransformer((doc, _, _) =>
            {
                doc.Servers = [new Microsoft.OpenApi.OpenApiServer { Url = "/" }];
                doc.Components ??= new Microsoft.OpenApi.OpenApiComponents();
                doc.Components.SecuritySchemes = new Dictionary<string, Microsoft.OpenApi.IOpenApiSecurityScheme>
                {
                    [BearerScheme] = new Microsoft.OpenApi.OpenApiSecurityScheme
                    {
                        Type = Microsoft.OpenApi.SecuritySchemeType.Http, Scheme = "bearer",
                        Description = "The token in --token-file: 'Authorization: Bearer <token>'",
                    },
                };
                return Task.CompletedTask;
            });
            // top_logprobs holds null for the first echoed prompt token; the generator drops the nullability of array items.
            o.AddSchemaTransformer((schema, ctx, _) =>
            {
                if (ctx.JsonTypeInfo.Type == typeof(CompletionLogprobs) && schema.Properties?.TryGetValue("top_logprobs", out var top) == true
                    && top is Microsoft.OpenApi.OpenApiSchema { Items: Microsoft.OpenApi.OpenApiSchema items })
                    items.Type |= Microsoft.OpenApi.JsonSchemaType.Null;
                return Task.CompletedTask;
            });
            o.AddOperationTransformer((op, ctx, _) =>
            {
                var metadata = ctx.Description.ActionDescriptor.EndpointMetadata;
                if (metadata.OfType<RequiresToken>().Any())
                    op.Security = [new Microsoft.OpenApi.OpenApiSecurityRequirement { [new Microsoft.OpenApi.OpenApiSecuritySchemeReference(BearerScheme, ctx.Document)] = [] }];
                if (metadata.OfType<StreamsEvents>().Any() && op.Responses?.TryGetValue("200", out var ok) == true && ok is Microsoft.OpenApi.OpenApiResponse r)
                {
                    r.Content ??= new Dictionary<string, Microsoft.OpenApi.OpenApiMediaType>();
                    r.Content["text/event-stream"] = new Microsoft.OpenApi.OpenApiMediaType
                    {
                        Schema = new Microsoft.OpenApi.OpenApiSchema
                        {
                            Type = Microsoft.OpenApi.JsonSchemaType.String,
                            Description = ctx.Description.RelativePath?.Contains("chat/", StringComparison.Ordinal) == true
                                ? "With stream: true, server-sent events 'data: {chunk}' (id, object: chat.completion.chunk, created, model, choices: [{index, delta: {role?, content?}, finish_reason, logprobs}], usage in the last with stream_options.include_usage), then 'data: [DONE]'"
                                : "With stream: true, server-sent events 'data: {chunk}' (id, object, created, model, choices: [{text, index, finish_reason, logprobs}], usage in the last with stream_options.include_usage), then 'data: [DONE]'",
                        },
                    };
                }
                return Task.CompletedTask;
            });
        });
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = Json.PropertyNamingPolicy;
            o.SerializerOptions.NumberHandling = Json.NumberHandling;
            o.SerializerOptions.DefaultIgnoreCondition = Json.DefaultIgnoreCondition;
        });
        configure?.Invoke(builder);
        var app = builder.Build();
        var allowed = AllowedHosts(urls, options.AllowedHosts);
        app.Use(async (ctx, next) =>
        {
            if (!ctx.Request.Headers.ContainsKey(NulPathFilter.MarkerHeader)) { await next(ctx); return; }
            await WriteEarlyErrorAsync(ctx, 400, "the request path holds a NUL byte (%00); no path of this server contains one: remove it", "nul_in_path");
        });
        app.Use(async (ctx, next) =>
        {
            var (status, message, code) = CheckRequestSize(ctx);
            if (status == 0) { await next(ctx); return; }
            await WriteEarlyErrorAsync(ctx, status, message!, code!);
        });
        app.Use(async (ctx, next) =>
        {
            // DNS rebinding: a page on another site whose name now resolves to this machine reaches the server with
            // that site's name in Host. Only the names the server is meant to be reached by are answered.
            string host = ctx.Request.Host.Host;
            if (allowed.Contains(host.TrimEnd('.'))) { await next(ctx); return; }
            string message = $"Host '{RequestReader.Printable(host)}' is not one this server answers to (localhost, 127.0.0.1, [::1], the --urls hosts, --allowed-hosts); " +
                             "to reach it by this name, start it with --allowed-hosts " + (ServeOptions.IsHostName(host) ? host : "NAME");
            await WriteEarlyErrorAsync(ctx, 400, message, "host_not_allowed");
        });
        Map(app, service, options);
        return app;
    }

    /// <summary>Longest request target (path and query, as sent) the service reads, in bytes; longer is a 414.</summary>
    public const int MaxRequestTargetBytes = 8 * 1024;

    /// <summary>Most header bytes the service reads (each header counted as name, ": ", value and CRLF); more is a 431.</summary>
    public const int MaxHeaderBytes = 32 * 1024;

    /// <summary>Most header lines the service reads; more is a 431.</summary>
    public const int MaxHeaderCount = 100;

    /// <summary>Kestrel's request line limit, raised above <see cref="MaxRequestTargetBytes"/>; beyond it Kestrel answers an empty 414.</summary>
    public const int KestrelMaxRequestLineBytes = 64 * 1024;

    /// <summary>Kestrel's header size limit, raised above <see cref="MaxHeaderBytes"/>; beyond it Kestrel answers an empty 431.</summary>
    public const int KestrelMaxHeaderBytes = 256 * 1024;

    /// <summary>Kestrel's header count limit, raised above <see cref="MaxHeaderCount"/>; beyond it Kestrel answers an empty 431.</summary>
    public const int KestrelMaxHeaderCount = 1000;

    /// <summary>
    /// The service's own request line and header limits, checked before anything else reads the request: a request
    /// target over <see cref="MaxRequestTargetBytes"/> is a 414, headers over <see cref="MaxHeaderBytes"/> or
    /// <see cref="MaxHeaderCount"/> a 431. Returns status 0 when the request is within them.
    /// </summary>
    public static (int Status, string? Message, string? Code) CheckRequestSize(HttpContext ctx)
    {
        var request = ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>();
        string target = request?.RawTarget is { Length: > 0 } raw ? raw : ctx.Request.Path.ToUriComponent() + ctx.Request.QueryString.ToUriComponent();
        int targetBytes = Encoding.UTF8.GetByteCount(target);
        if (targetBytes > MaxRequestTargetBytes)
            return (414, $"the request target (path and query) is {targetBytes} bytes; this server reads at most {MaxRequestTargetBytes} bytes ({MaxRequestTargetBytes / 1024} KiB)", "request_target_too_long");
        long headerBytes = 0;
        int headerCount = 0;
        foreach (var (name, values) in ctx.Request.Headers)
            foreach (string? value in values)
            {
                headerCount++;
                headerBytes += name.Length + 2 + Encoding.UTF8.GetByteCount(value ?? "") + 2;
            }
        if (headerCount > MaxHeaderCount)
            return (431, $"the request has {headerCount} header lines; this server reads at most {MaxHeaderCount}", "request_headers_too_large");
        if (headerBytes > MaxHeaderBytes)
            return (431, $"the request headers are {headerBytes} bytes; this server reads at most {MaxHeaderBytes} bytes ({MaxHeaderBytes / 1024} KiB)", "request_headers_too_large");
        return (0, null, null);
    }

    /// <summary>An error answered by a middleware before routing: OpenAI's shape under /v1 (with <paramref name="code"/>), the service's elsewhere.</summary>
    static Task WriteEarlyErrorAsync(HttpContext ctx, int status, string message, string code)
    {
        ctx.Response.StatusCode = status;
        return ctx.Request.Path.StartsWithSegments("/v1")
            ? ctx.Response.WriteAsJsonAsync(new OpenAiErrorResponse(new OpenAiErrorDetail(message, "invalid_request_error", null, code)), Json)
            : ctx.Response.WriteAsJsonAsync(new ErrorResponse(new ErrorDetail(message, "invalid_request_error", status)), Json);
    }

    /// <summary>
    /// The Host header names answered (without port, any case): localhost, 127.0.0.1, [::1], the host of every
    /// listening address in <paramref name="urls"/> that names one (not <c>*</c>, <c>+</c>, <c>0.0.0.0</c> or <c>[::]</c>),
    /// and <paramref name="extra"/> (<c>--allowed-hosts</c>).
    /// </summary>
    public static HashSet<string> AllowedHosts(string? urls, IEnumerable<string> extra)
    {
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "localhost", "127.0.0.1", "[::1]" };
        foreach (string url in (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            BindingAddress address;
            try { address = BindingAddress.Parse(url); }
            catch (FormatException) { continue; }
            string h = address.Host;
            if (address.IsUnixPipe || address.IsNamedPipe || h is "*" or "+" or "0.0.0.0" or "[::]" or "::") continue;
            set.Add(h.Contains(':') && !h.StartsWith('[') ? $"[{h}]" : h);
        }
        foreach (string h in extra) set.Add(h);
        return set;
    }

    static void Map(WebApplication app, MemoryService service, ServeOptions options)
    {
        var tokenHash = SHA256.HashData(Encoding.UTF8.GetBytes(options.Token));
        Task<IResult> Guard(Func<Task<IResult>> handler) => Guarded(handler, app.Logger, openAi: false);
        Task<IResult> GuardOpenAi(Func<Task<IResult>> handler) => Guarded(handler, app.Logger, openAi: true);
        RateLimiter? learnLimiter = options.LearnsPerMinute > 0
            ? new FixedWindowRateLimiter(new FixedWindowRateLimiterOptions { PermitLimit = options.LearnsPerMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0, AutoReplenishment = true })
            : null;
        string modelName = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.ModelDir)));

        void Authorize(HttpContext ctx)
        {
            string? header = ctx.Request.Headers.Authorization;
            const string scheme = "Bearer ";
            bool ok = header is not null && header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
                      && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim())), tokenHash);
            if (!ok)
            {
                ctx.Response.Headers.WWWAuthenticate = "Bearer";
                throw new BadRequestException(401, "authentication_error", header is null
                    ? "missing Authorization header; send 'Authorization: Bearer <token>' (the token in --token-file)"
                    : "invalid token");
            }
        }

        // Statuses produced before a handler runs (415 wrong Content-Type, 404 unknown path, 405 wrong method) get a JSON body too.
        app.UseStatusCodePages(async ctx =>
        {
            var http = ctx.HttpContext;
            int status = http.Response.StatusCode;
            string message = status switch
            {
                415 => $"unsupported Content-Type '{http.Request.ContentType}'; send 'Content-Type: application/json'",
                404 => $"no endpoint {http.Request.Method} {http.Request.Path}",
                405 => $"{http.Request.Method} is not allowed on {http.Request.Path}",
                400 => "bad request: the path, query or headers could not be read (HTTP 400)",
                _ => $"HTTP {status}",
            };
            string type = status >= 500 ? "server_error" : "invalid_request_error";
            if (http.Request.Path.StartsWithSegments("/v1"))
                await http.Response.WriteAsJsonAsync(new OpenAiErrorResponse(new OpenAiErrorDetail(message, type, null, null)), Json);
            else await http.Response.WriteAsJsonAsync(new ErrorResponse(new ErrorDetail(message, type, status)), Json);
        });

        app.MapOpenApi();

        app.MapGet("/", () => Results.Content(Page.Value, "text/html; charset=utf-8")).ExcludeFromDescription();

        app.MapGet("/health", () => Guard(() =>
        {
            int facts = service.Learned().Count(l => !l.Undone);
            var stats = service.Stats();
            return Task.FromResult(Results.Json(new HealthResponse("ok", modelName, facts, stats.JournalLines, service.Lr, options.TopT), Json));
        })).WithSummary("Liveness and a few counters").Produces<HealthResponse>().Errors(false, 400, 500);

        app.MapGet("/stats", () => Guard(() => Task.FromResult(Results.Json(service.Stats(), Json))))
            .WithSummary("Facts learned, distinct rows changed, the forgetting check (known-facts-f1, heldout-nll) and its drift since start")
            .Produces<StatsResponse>().Errors(false, 400, 500);

        app.MapGet("/learned", () => Guard(() =>
        {
            var items = service.Learned().Select(l => new LearnedItem(l.Id, l.Time, l.Text, l.Question, l.Answer, l.Rows.Length, l.Loss, l.Undone, l.UndoneAt, l.Document ? "document" : "fact")).ToArray();
            return Task.FromResult(Results.Json(new LearnedResponse(items.Length, items), Json));
        })).WithSummary("The journal of learns, oldest first").Produces<LearnedResponse>().Errors(false, 400, 500);

        app.MapPost("/learn", Handler(ctx => Guard(async () =>
        {
            Authorize(ctx);
            var o = await RequestReader.ReadObjectAsync(ctx.Request, options.MaxBodyBytes);
            string? document = RequestReader.String(o, "document", required: false, int.MaxValue);
            string? text = RequestReader.String(o, "text", required: document is null, options.MaxTextChars);
            string? question = RequestReader.String(o, "question", required: false, options.MaxTextChars);
            string? answer = RequestReader.String(o, "answer", required: false, options.MaxTextChars);
            if (document is not null)
            {
                if (text is not null || question is not null || answer is not null)
                    throw new BadRequestException(400, "invalid_request_error", "give either 'document' or 'text' (with optional 'question' and 'answer'), not both");
                if (RequestReader.Characters(document) is var n && n > options.MaxDocumentChars)
                    throw new BadRequestException(413, "invalid_request_error",
                        $"field 'document' is {n} characters; this server learns documents of at most {options.MaxDocumentChars} (max_document_chars: --config or --set max_document_chars=N)");
            }
            if ((question is null) != (answer is null))
                throw new BadRequestException(400, "invalid_request_error", "give both 'question' and 'answer', or neither");
            if (learnLimiter is not null)
            {
                using var lease = learnLimiter.AttemptAcquire();
                if (!lease.IsAcquired)
                {
                    ctx.Response.Headers.RetryAfter = "60";
                    throw new BadRequestException(429, "rate_limit", $"more than {options.LearnsPerMinute} learns in a minute; try again later");
                }
            }
            var r = await service.LearnAsync(document is not null ? new LearnRequest(document, null, null, Document: true) : new LearnRequest(text!, question, answer));
            return Results.Json(new LearnResponse(r.Id, r.Rows.Length, r.Loss, r.FinalLoss, r.Rows.Take(MaxListedRows).ToArray(),
                r.Rows.Length > MaxListedRows, r.Paraphrases, Math.Round(r.Milliseconds, 1), r.Chunks, r.Steps), Json);
        }))).WithSummary("Teach a fact (text, optionally question + answer) or a document (chunked and augmented); durable when answered (requires the bearer token)")
            .Accepts<LearnBody>("application/json").Produces<LearnResponse>().Errors(false, 400, 401, 413, 415, 422, 429, 500, 503)
            .WithMetadata(new RequiresToken());

        app.MapPost("/ask", Handler(ctx => Guard(async () =>
        {
            if (options.ProtectAsk) Authorize(ctx);
            var o = await RequestReader.ReadObjectAsync(ctx.Request, options.MaxBodyBytes);
            string prompt = RequestReader.String(o, "prompt", required: true, options.MaxTextChars)!;
            int maxTokens = RequestReader.Int(o, "max_tokens", 1, options.MaxAskTokens, 32);
            bool raw = RequestReader.Bool(o, "raw", false);
            var (used, wrapped) = raw ? (prompt, false) : AskPrompt(prompt);
            string text = await service.GenerateAsync(used, new SamplingOptions(maxTokens, StopAtNewline: wrapped));
            return Results.Json(new AskResponse(wrapped ? text.Trim() : text, used, wrapped), Json);
        }))).WithSummary("Greedy answer; a question ending in '?' without 'Answer:' is wrapped as 'Question: … Answer:' (raw: true turns that off)")
            .Accepts<AskBody>("application/json").Produces<AskResponse>().Errors(false, options.ProtectAsk ? [400, 401, 413, 415, 500, 503] : [400, 413, 415, 500, 503])
            .WithMetadata(options.ProtectAsk ? [new RequiresToken()] : []);

        app.MapPost("/v1/completions", Handler(ctx => GuardOpenAi(async () =>
        {
            if (options.ProtectAsk) Authorize(ctx);
            var o = await RequestReader.ReadObjectAsync(ctx.Request, options.MaxBodyBytes);
            RequestReader.CheckCompletionFields(o);
            CheckModel(o, modelName);
            string prompt = RequestReader.Prompt(o, options.MaxTextChars);
            int maxTokens = RequestReader.Int(o, "max_tokens", 1, options.MaxAskTokens, 16);
            var (temperature, topP, n, stops, seed) = Sampling(o, options);
            int[] promptIds = service.Encode(prompt);
            if (promptIds.Length + maxTokens > service.ContextLength)
                throw new BadRequestException(400, "invalid_request_error",
                    $"the model's context is {service.ContextLength} tokens, but the prompt has {promptIds.Length} and max_tokens asks for {maxTokens} more ({promptIds.Length + maxTokens} in all); shorten the prompt or lower max_tokens",
                    promptIds.Length > service.ContextLength ? "prompt" : "max_tokens", "context_length_exceeded");
            var (stream, includeUsage) = RequestReader.StreamOptions(o);
            bool echo = RequestReader.Bool(o, "echo", false);
            int? logprobs = RequestReader.Logprobs(o, stream);
            var id = "cmpl-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
            long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (stream)
            {
                StreamChunk Chunk(int index, string text, string? finish) => new(id, "text_completion", created, modelName, [new StreamChoice(text, index, finish)]);
                var shape = new StreamShape(
                    Piece: (i, text) => Chunk(i, text, null),
                    Opening: i => echo ? Chunk(i, prompt, null) : null,
                    Finish: (i, reason) => Chunk(i, "", reason),
                    Usage: u => new StreamChunk(id, "text_completion", created, modelName, [], u));
                await StreamAsync(ctx, service, app.Logger, promptIds, n, temperature,
                    i => new SamplingOptions(maxTokens, temperature, topP, unchecked(seed + i)), stops, includeUsage, shape);
                return Results.Empty;
            }
            var choices = new CompletionChoice[n];
            for (int i = 0; i < n; i++)
            {
                if (i > 0 && temperature == 0) { choices[i] = choices[0] with { Index = i }; continue; }   // greedy: every choice is the same
                var c = await service.CompleteAsync(promptIds, new SamplingOptions(maxTokens, temperature, topP, unchecked(seed + i)), stops,
                    logprobs: logprobs, echoLogprobs: echo && logprobs is not null);
                choices[i] = new CompletionChoice(echo ? prompt + c.Text : c.Text, i, c.FinishReason, Echoed(c, echo ? prompt : null)) { Tokens = c.Tokens };
            }
            int completionTokens = choices.Sum(c => c.Tokens);
            return Results.Json(new CompletionResponse(id, "text_completion", created, modelName,
                choices, new CompletionUsage(promptIds.Length, completionTokens, promptIds.Length + completionTokens)), Json);
        }))).WithSummary("OpenAI-style text completion (prompt used as is; temperature 0 = greedy, the default; stop, n, top_p, seed, echo, logprobs)")
            .Accepts<CompletionBody>("application/json").Produces<CompletionResponse>()
            .Errors(true, options.ProtectAsk ? [400, 401, 404, 413, 415, 500, 503] : [400, 404, 413, 415, 500, 503])
            .WithMetadata(options.ProtectAsk ? [new RequiresToken(), new StreamsEvents()] : [new StreamsEvents()]);

        app.MapPost("/v1/chat/completions", Handler(ctx => GuardOpenAi(async () =>
        {
            if (options.ProtectAsk) Authorize(ctx);
            var o = await RequestReader.ReadObjectAsync(ctx.Request, options.MaxBodyBytes);
            RequestReader.CheckChatFields(o);
            CheckModel(o, modelName);
            var messages = RequestReader.Messages(o, options.MaxTextChars);
            int? askedTokens = RequestReader.ChatMaxTokens(o, options.MaxAskTokens);
            var (temperature, topP, n, stops, seed) = Sampling(o, options);
            var (stream, includeUsage) = RequestReader.StreamOptions(o);
            int[] promptIds;
            try { promptIds = service.ChatPromptOf(messages).Ids; }
            catch (ChatTemplateRaisedException e)
            {
                throw new BadRequestException(400, "invalid_request_error", $"the model's chat template refuses these messages: {e.Message}", "messages", "chat_template_refused");
            }
            catch (ChatTemplateException e) when (service.Chat.Kind == ChatPrompt.UnsupportedKind)
            {
                throw new BadRequestException(400, "invalid_request_error", $"{e.Message}; /v1/chat/completions cannot format messages for this model (use /v1/completions with a prompt you format yourself)", null, "chat_template_unsupported");
            }
            catch (ChatTemplateException e)
            {
                app.Logger.LogError(e, "the chat template failed");
                throw new BadRequestException(500, "server_error", $"the model's chat template failed on these messages: {e.Message}", "messages", "chat_template_failed");
            }
            // Without a limit the answer may run to max_ask_tokens, within the context left after the prompt.
            int room = service.ContextLength - promptIds.Length;
            int maxTokens = askedTokens ?? Math.Min(options.MaxAskTokens, room);
            if (promptIds.Length + maxTokens > service.ContextLength || maxTokens < 1)
                throw new BadRequestException(400, "invalid_request_error",
                    $"the model's context is {service.ContextLength} tokens, but the rendered messages have {promptIds.Length}" +
                    (askedTokens is null ? ", which leaves no room for an answer; shorten the messages" : $" and max_completion_tokens asks for {maxTokens} more ({promptIds.Length + maxTokens} in all); shorten the messages or lower max_completion_tokens"),
                    promptIds.Length >= service.ContextLength || askedTokens is null ? "messages" : "max_completion_tokens", "context_length_exceeded");
            var id = "chatcmpl-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
            long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (stream)
            {
                ChatStreamChunk Chunk(int index, ChatDelta delta, string? finish) => new(id, "chat.completion.chunk", created, modelName, [new ChatStreamChoice(index, delta, finish)]);
                var shape = new StreamShape(
                    Piece: (i, text) => Chunk(i, new ChatDelta(Content: text), null),
                    Opening: i => Chunk(i, new ChatDelta(Role: "assistant", Content: ""), null),
                    Finish: (i, reason) => Chunk(i, new ChatDelta(), reason),
                    Usage: u => new ChatStreamChunk(id, "chat.completion.chunk", created, modelName, [], u));
                await StreamAsync(ctx, service, app.Logger, promptIds, n, temperature,
                    i => new SamplingOptions(maxTokens, temperature, topP, unchecked(seed + i)), stops, includeUsage, shape);
                return Results.Empty;
            }
            var choices = new ChatChoice[n];
            for (int i = 0; i < n; i++)
            {
                if (i > 0 && temperature == 0) { choices[i] = choices[0] with { Index = i }; continue; }   // greedy: every choice is the same
                var c = await service.CompleteAsync(promptIds, new SamplingOptions(maxTokens, temperature, topP, unchecked(seed + i)), stops);
                choices[i] = new ChatChoice(i, new ChatReply("assistant", c.Text), c.FinishReason) { Tokens = c.Tokens };
            }
            int completionTokens = choices.Sum(c => c.Tokens);
            return Results.Json(new ChatCompletionResponse(id, "chat.completion", created, modelName,
                choices, new CompletionUsage(promptIds.Length, completionTokens, promptIds.Length + completionTokens)), Json);
        }))).WithSummary("OpenAI-style chat completion: the messages rendered with the model's chat template (a plain transcript when it has none); temperature 0 = greedy, the default; stop, n, top_p, seed, stream")
            .Accepts<ChatCompletionBody>("application/json").Produces<ChatCompletionResponse>()
            .Errors(true, options.ProtectAsk ? [400, 401, 404, 413, 415, 500, 503] : [400, 404, 413, 415, 500, 503])
            .WithMetadata(options.ProtectAsk ? [new RequiresToken(), new StreamsEvents()] : [new StreamsEvents()]);

        app.MapPost("/undo/{id}", Handler(ctx => Guard(async () =>
        {
            Authorize(ctx);
            long learnId = RequestReader.LearnId(ctx.Request.RouteValues["id"] as string);
            bool cascade = RequestReader.QueryBool(ctx.Request, "cascade", false);
            var r = await service.UndoAsync(learnId, cascade);
            return Results.Json(new UndoResponse(r.Undone, r.Rows), Json);
        }))).WithSummary("Restore the exact old values of the rows a learn changed; 409 if a later learn changed the same rows (unless ?cascade=true)")
            .Produces<UndoResponse>().Errors(false, 400, 401, 404, 409, 500, 503).WithMetadata(new RequiresToken());
    }

    /// <summary>
    /// A choice's logprobs as the response carries them: the generated tokens', and with <paramref name="echo"/> (the
    /// prompt, which the choice's text then starts with) the prompt tokens' first, the generated tokens' offsets moved
    /// past the prompt. Null when the request did not ask for logprobs.
    /// </summary>
    static CompletionLogprobs? Echoed(Completion c, string? echo)
    {
        if (c.Logprobs is not { } g || echo is null) return c.Logprobs;
        var p = c.PromptLogprobs!;
        return new CompletionLogprobs([.. p.Tokens, .. g.Tokens], [.. p.TokenLogprobs, .. g.TokenLogprobs], [.. p.TopLogprobs, .. g.TopLogprobs],
            [.. p.TextOffset, .. g.TextOffset.Select(x => x + echo.Length)]);
    }

    /// <summary>
    /// The events of one streamed answer: a piece of a choice's text, what opens a choice (the echoed prompt of a text
    /// completion, the role of a chat completion; null for nothing), a choice's last event with its finish_reason, and
    /// the closing usage event.
    /// </summary>
    sealed record StreamShape(Func<int, string, object> Piece, Func<int, object?> Opening, Func<int, string, object> Finish, Func<CompletionUsage, object> Usage);

    /// <summary>
    /// Answers a completion with server-sent events in the shape OpenAI's clients read: per choice the opening event of
    /// <paramref name="shape"/> (if any), one <c>data: {chunk}</c> event per piece of text as it is generated, and an
    /// event with its <c>finish_reason</c>; with <paramref name="includeUsage"/> a last event with no choices and
    /// <c>usage</c>; then <c>data: [DONE]</c>. Text completions send <c>text_completion</c> chunks (the echoed prompt
    /// opens a choice with <c>echo</c>), chat completions <c>chat.completion.chunk</c> deltas (the role opens a choice).
    /// The first choice is queued before the headers are written, so a full queue is still a 503 with a JSON body; a
    /// failure after that ends the stream with an <c>error</c> event.
    /// </summary>
    static async Task StreamAsync(HttpContext ctx, MemoryService service, ILogger log, int[] promptIds, int n, double temperature,
        Func<int, SamplingOptions> sampling, IReadOnlyList<string> stops, bool includeUsage, StreamShape shape)
    {
        var response = ctx.Response;
        var abort = ctx.RequestAborted;
        async Task Send(object chunk)
        {
            await response.WriteAsync("data: " + JsonSerializer.Serialize(chunk, chunk.GetType(), Json) + "\n\n", abort);
            await response.Body.FlushAsync(abort);
        }

        // The first choice is queued before anything is written: a full queue is still an ordinary JSON 503.
        var pieces = System.Threading.Channels.Channel.CreateUnbounded<string>(new() { SingleReader = true, SingleWriter = true });
        var work = service.CompleteAsync(promptIds, sampling(0), stops, piece => pieces.Writer.TryWrite(piece));
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        Completion? first = null;
        int completionTokens = 0;
        try
        {
            for (int i = 0; i < n; i++)
            {
                Completion c;
                if (shape.Opening(i) is { } opening) await Send(opening);
                if (i > 0 && temperature == 0)
                {
                    c = first!;                                   // greedy: every choice is the same
                    if (c.Text.Length > 0) await Send(shape.Piece(i, c.Text));
                }
                else
                {
                    if (i > 0)
                    {
                        pieces = System.Threading.Channels.Channel.CreateUnbounded<string>(new() { SingleReader = true, SingleWriter = true });
                        var writer = pieces.Writer;
                        work = service.CompleteAsync(promptIds, sampling(i), stops, piece => writer.TryWrite(piece));
                    }
                    var done = pieces.Writer;
                    _ = work.ContinueWith(_ => done.TryComplete(), TaskScheduler.Default);
                    await foreach (string piece in pieces.Reader.ReadAllAsync(abort))
                        await Send(shape.Piece(i, piece));
                    c = await work;
                }
                first ??= c;
                completionTokens += c.Tokens;
                await Send(shape.Finish(i, c.FinishReason));
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested) { return; }   // the client left
        catch (Exception e)
        {
            log.LogError(e, "error while streaming a completion");
            string message = e is ServiceBusyException or ObjectDisposedException ? e.Message
                : e is ExternalException ? "internal error in the model's native code; the server log has the details"
                : "internal error while generating; the server log has the details";
            try { await Send(new OpenAiErrorResponse(new OpenAiErrorDetail(message, e is ServiceBusyException ? "busy" : "server_error", null, null))); }
            catch (Exception) when (abort.IsCancellationRequested || e is IOException) { }   // the client is gone: nobody to tell
            return;
        }
        if (includeUsage) await Send(shape.Usage(new CompletionUsage(promptIds.Length, completionTokens, promptIds.Length + completionTokens)));
        await response.WriteAsync("data: [DONE]\n\n", abort);
        await response.Body.FlushAsync(abort);
    }

    /// <summary>The security scheme's name in the OpenAPI document.</summary>
    public const string BearerScheme = "bearer";

    /// <summary>Endpoint metadata: the operation needs the bearer token (OpenAPI <c>security</c>).</summary>
    sealed class RequiresToken;

    /// <summary>Endpoint metadata: the operation can answer with server-sent events (OpenAPI: text/event-stream on 200).</summary>
    sealed class StreamsEvents;

    /// <summary>Declares the error answers of an operation: <see cref="ErrorResponse"/>, or OpenAI's shape under /v1.</summary>
    static RouteHandlerBuilder Errors(this RouteHandlerBuilder b, bool openAi, params int[] statuses)
    {
        foreach (int status in statuses)
            b = openAi ? b.Produces<OpenAiErrorResponse>(status) : b.Produces<ErrorResponse>(status);
        return b;
    }

    /// <summary>The ask rule: a prompt ending in '?' that does not already contain "Answer:" becomes <see cref="QaFormat.Prompt"/>.</summary>
    public static (string Prompt, bool Wrapped) AskPrompt(string prompt)
    {
        string t = prompt.Trim();
        return t.EndsWith('?') && !t.Contains("Answer:", StringComparison.OrdinalIgnoreCase) ? (QaFormat.Prompt(t), true) : (prompt, false);
    }

    /// <summary>A handler that reads the request itself, typed as a route handler (so its IResult is written) rather than a RequestDelegate.</summary>
    static Delegate Handler(Func<HttpContext, Task<IResult>> handler) => handler;

    /// <summary>
    /// Maps exceptions to JSON errors. A refusal keeps its status and message; a failure of the server is a 500 whose
    /// message is the first line of ours (I/O, damaged state) and never a native (libtorch) message or trace, which
    /// only the server log gets.
    /// </summary>
    static async Task<IResult> Guarded(Func<Task<IResult>> handler, ILogger log, bool openAi)
    {
        IResult Error(int status, string type, string message, long[]? later = null, string? param = null, string? code = null) =>
            openAi ? Results.Json(new OpenAiErrorResponse(new OpenAiErrorDetail(message, type, param, code)), Json, statusCode: status)
                   : ServeApp.Error(status, type, message, later);
        try { return await handler(); }
        catch (BadRequestException e) { return Error(e.Status, e.Type, e.Message, param: e.Param, code: e.Code); }
        catch (LearnNotFoundException e) { return Error(404, "not_found", e.Message); }
        catch (BadLearnException e) { return Error(400, "invalid_request_error", e.Message); }
        catch (UndoConflictException e) { return Error(409, "conflict", e.Message, e.Later); }
        catch (ServiceBusyException e) { return Error(503, "busy", e.Message); }
        catch (DriftGuardException e) { return Error(422, "drift_guard", e.Message); }
        catch (LearnDivergedException e) { return Error(422, "diverged", e.Message); }
        catch (ObjectDisposedException) { return Error(503, "busy", "the service is shutting down"); }
        catch (ExternalException e)
        {
            log.LogError(e, "native error while serving a request");
            return Error(500, "server_error", "internal error in the model's native code; the server log has the details");
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException)
        {
            log.LogError(e, "error while serving a request");
            return Error(500, "server_error", $"{e.GetType().Name}: {FirstLine(e.Message)}");
        }
        catch (Exception e)
        {
            log.LogError(e, "unexpected error while serving a request");
            return Error(500, "server_error", "internal error (a bug in the service); the server log has the details");
        }
    }

    static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    static IResult Error(int status, string type, string message, long[]? later = null) =>
        Results.Json(new ErrorResponse(new ErrorDetail(message, type, status, later)), Json, statusCode: status);

    static readonly Lazy<string> Page = new(() =>
    {
        using var s = typeof(ServeApp).Assembly.GetManifestResourceStream("SparseMemory.Serve.index.html")
                      ?? throw new InvalidOperationException("embedded page SparseMemory.Serve.index.html is missing");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    });

    /// <summary>A 404 (<c>model_not_found</c>) when an OpenAI request names another model than the one served.</summary>
    static void CheckModel(JsonElement o, string modelName)
    {
        string? model = RequestReader.String(o, "model", required: false, 200);
        if (model is not null && model != modelName)
            throw new BadRequestException(404, "invalid_request_error", $"the model '{RequestReader.Printable(model)}' does not exist; this server serves '{modelName}'", "model", "model_not_found");
    }

    /// <summary>
    /// The sampling fields both OpenAI endpoints share: temperature, top_p, n, stop and seed. Sampling without a seed
    /// draws one per request, so repeated calls differ; choice i uses seed + i.
    /// </summary>
    static (double Temperature, double TopP, int N, IReadOnlyList<string> Stops, int Seed) Sampling(JsonElement o, ServeOptions options)
    {
        double temperature = RequestReader.Temperature(o, 2);
        double topP = RequestReader.TopP(o);
        int n = RequestReader.Int(o, "n", 1, MaxChoices, 1);
        var stops = RequestReader.Stops(o, MaxStops, options.MaxTextChars);
        int seed = o.TryGetProperty("seed", out var s) && s.ValueKind != JsonValueKind.Null
            ? RequestReader.Int(o, "seed", int.MinValue, int.MaxValue, 1)
            : temperature > 0 ? RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue) : 1;
        return (temperature, topP, n, stops, seed);
    }
}
