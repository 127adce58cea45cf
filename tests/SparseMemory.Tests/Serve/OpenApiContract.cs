using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;

namespace SparseMemory.Tests.Serve;

/// <summary>
/// The service's OpenAPI document as a contract: a structural check that it is an OpenAPI 3 document (a JSON schema of
/// the parts this service uses, written here, plus every schema checked against the JSON Schema 2020-12 meta-schema,
/// the dialect of OpenAPI 3.1), and a check of one response against the schema its operation declares for its status.
/// </summary>
public sealed class OpenApiContract
{
    const string ComponentsPrefix = "#/components/schemas/";

    /// <summary>The parts of OpenAPI 3 this service uses: version, info, paths → operations → responses → media types, components.</summary>
    static readonly JsonSchema DocumentShape = JsonSchema.FromText("""
        {
          "$schema": "https://json-schema.org/draft/2020-12/schema",
          "type": "object",
          "required": ["openapi", "info", "paths"],
          "properties": {
            "openapi": { "type": "string", "pattern": "^3\\.[01]\\.[0-9]+$" },
            "info": { "type": "object", "required": ["title", "version"],
                      "properties": { "title": { "type": "string" }, "version": { "type": "string" } } },
            "servers": { "type": "array", "items": { "type": "object", "required": ["url"], "properties": { "url": { "type": "string" } } } },
            "paths": {
              "type": "object",
              "propertyNames": { "pattern": "^/" },
              "additionalProperties": {
                "type": "object",
                "propertyNames": { "enum": ["get", "put", "post", "delete", "options", "head", "patch", "trace", "summary", "description", "parameters", "servers"] },
                "patternProperties": { "^(get|put|post|delete|options|head|patch|trace)$": { "$ref": "#/$defs/operation" } }
              }
            },
            "components": {
              "type": "object",
              "properties": {
                "schemas": { "type": "object", "additionalProperties": { "type": ["object", "boolean"] } },
                "securitySchemes": { "type": "object", "additionalProperties": { "$ref": "#/$defs/securityScheme" } }
              }
            },
            "security": { "$ref": "#/$defs/security" }
          },
          "$defs": {
            "operation": {
              "type": "object",
              "required": ["responses"],
              "properties": {
                "summary": { "type": "string" },
                "parameters": { "type": "array", "items": { "type": "object", "required": ["name", "in"],
                  "properties": { "in": { "enum": ["query", "header", "path", "cookie"] } } } },
                "requestBody": { "type": "object", "required": ["content"], "properties": { "content": { "$ref": "#/$defs/content" } } },
                "responses": {
                  "type": "object", "minProperties": 1,
                  "propertyNames": { "pattern": "^([1-5][0-9][0-9]|[1-5]XX|default)$" },
                  "additionalProperties": { "type": "object", "required": ["description"],
                    "properties": { "description": { "type": "string" }, "content": { "$ref": "#/$defs/content" } } }
                },
                "security": { "$ref": "#/$defs/security" }
              }
            },
            "content": { "type": "object", "additionalProperties": { "type": "object", "properties": { "schema": { "type": ["object", "boolean"] } } } },
            "security": { "type": "array", "items": { "type": "object", "additionalProperties": { "type": "array", "items": { "type": "string" } } } },
            "securityScheme": {
              "type": "object", "required": ["type"],
              "properties": { "type": { "enum": ["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"] } },
              "if": { "properties": { "type": { "const": "http" } } }, "then": { "required": ["scheme"] }
            }
          }
        }
        """);

    readonly JsonObject _doc;
    readonly JsonObject _defs;

    /// <summary>Reads the document (the text of <c>/openapi/v1.json</c>).</summary>
    public OpenApiContract(string json)
    {
        _doc = JsonNode.Parse(json)!.AsObject();
        _defs = new JsonObject();
        if (_doc["components"]?["schemas"] is JsonObject schemas)
            foreach (var (name, schema) in schemas) _defs[name] = Rewrite(schema!.DeepClone());
    }

    /// <summary>The document.</summary>
    public JsonObject Document => _doc;

    /// <summary>Every problem of the document as an OpenAPI 3 document: its shape, every schema against the 2020-12 meta-schema, security names defined.</summary>
    public List<string> CheckDocument()
    {
        var problems = new List<string>();
        var shape = DocumentShape.Evaluate(_doc, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (!shape.IsValid) problems.AddRange(Describe("document", shape));
        foreach (var (name, schema) in _defs)
        {
            var r = MetaSchemas.Draft202012.Evaluate(schema, new EvaluationOptions { OutputFormat = OutputFormat.List });
            if (!r.IsValid) problems.AddRange(Describe($"components.schemas.{name}", r));
        }
        var schemes = _doc["components"]?["securitySchemes"]?.AsObject();
        foreach (var (path, item) in _doc["paths"]!.AsObject())
            foreach (var (method, op) in item!.AsObject())
            {
                foreach (var (status, response) in op!["responses"]?.AsObject() ?? [])
                    foreach (var (media, m) in response!["content"]?.AsObject() ?? [])
                        if (m!["schema"] is { } schema)
                        {
                            var r = MetaSchemas.Draft202012.Evaluate(schema, new EvaluationOptions { OutputFormat = OutputFormat.List });
                            if (!r.IsValid) problems.AddRange(Describe($"{method} {path} {status} {media}", r));
                            foreach (string reference in References(schema))
                                if (!reference.StartsWith(ComponentsPrefix) || !_defs.ContainsKey(reference[ComponentsPrefix.Length..]))
                                    problems.Add($"{method} {path} {status}: $ref {reference} is not a component schema");
                        }
                foreach (var requirement in op["security"]?.AsArray() ?? [])
                    foreach (var (scheme, _) in requirement!.AsObject())
                        if (schemes?.ContainsKey(scheme) != true) problems.Add($"{method} {path}: security names undefined scheme '{scheme}'");
            }
        return problems;
    }

    /// <summary>The document's path template that <paramref name="path"/> matches (<c>/undo/7</c> → <c>/undo/{id}</c>), or null.</summary>
    public string? Template(string path)
    {
        foreach (var (template, _) in _doc["paths"]!.AsObject())
        {
            string pattern = "^" + Regex.Replace(Regex.Escape(template), @"\\\{[^}]+}", "[^/]+") + "$";
            if (Regex.IsMatch(path, pattern)) return template;
        }
        return null;
    }

    /// <summary>The operation object for <paramref name="method"/> on <paramref name="path"/>, or null when the document has none.</summary>
    public JsonObject? Operation(string method, string path) =>
        Template(path) is { } t ? _doc["paths"]![t]![method.ToLowerInvariant()] as JsonObject : null;

    /// <summary>
    /// Problems of one JSON response against its operation: the status must be declared, with an application/json
    /// schema, and the body must validate against it. Null when the document has no operation for the request (an
    /// unknown path or method, answered by the framework).
    /// </summary>
    public List<string>? CheckResponse(string method, string path, int status, string body)
    {
        if (Operation(method, path) is not { } op) return null;
        string where = $"{method} {path} → {status}";
        if (op["responses"]?[status.ToString()] is not JsonObject response) return [$"{where}: status {status} is not declared in the OpenAPI document"];
        if (response["content"]?["application/json"]?["schema"] is not { } schema) return [$"{where}: no application/json schema declared"];
        var root = new JsonObject { ["$schema"] = "https://json-schema.org/draft/2020-12/schema", ["$defs"] = _defs.DeepClone() };
        foreach (var (k, v) in Rewrite(schema.DeepClone()).AsObject().ToList()) root[k] = v?.DeepClone();
        var result = JsonSchema.FromText(root.ToJsonString()).Evaluate(JsonNode.Parse(body), new EvaluationOptions { OutputFormat = OutputFormat.List });
        return result.IsValid ? [] : Describe(where, result).Append($"{where}: body {body[..Math.Min(body.Length, 400)]}").ToList();
    }

    static IEnumerable<string> Describe(string where, EvaluationResults r) =>
        (r.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{where}: {d.InstanceLocation} ({d.EvaluationPath}): {e.Key}: {e.Value}"))
            .DefaultIfEmpty($"{where}: invalid");

    /// <summary>Rewrites <c>#/components/schemas/X</c> references to <c>#/$defs/X</c>, where the validating root keeps them.</summary>
    static JsonNode Rewrite(JsonNode node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, v) in o.ToList())
                {
                    if (k == "$ref" && v is JsonValue r && r.GetValue<string>().StartsWith(ComponentsPrefix))
                        o[k] = "#/$defs/" + r.GetValue<string>()[ComponentsPrefix.Length..];
                    else if (v is not null) Rewrite(v);
                }
                break;
            case JsonArray a:
                foreach (var v in a) if (v is not null) Rewrite(v);
                break;
        }
        return node;
    }

    static IEnumerable<string> References(JsonNode node) => node switch
    {
        JsonObject o => o.SelectMany(kv => kv.Key == "$ref" && kv.Value is JsonValue v ? [v.GetValue<string>()] : kv.Value is null ? [] : References(kv.Value)),
        JsonArray a => a.SelectMany(v => v is null ? [] : References(v)),
        _ => [],
    };
}

/// <summary>
/// Checks every JSON response that passes through it against the service's OpenAPI document (fetched once, through
/// the same server): a response whose status is not declared for its operation, or whose body does not match the
/// declared schema, fails the request with <see cref="OpenApiContractException"/>. Responses of no operation (unknown
/// paths and methods) and non-JSON ones (the page, server-sent events) pass unchecked.
/// </summary>
public sealed class ContractCheckingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    OpenApiContract? _contract;

    /// <summary>JSON responses checked so far.</summary>
    public int Checked { get; private set; }

    /// <summary>The document, fetched on first use.</summary>
    public async Task<OpenApiContract> ContractAsync(CancellationToken ct = default)
    {
        if (_contract is not null) return _contract;
        using var res = await base.SendAsync(new HttpRequestMessage(HttpMethod.Get, "http://localhost/openapi/v1.json"), ct);
        return _contract = new OpenApiContract(await res.Content.ReadAsStringAsync(ct));
    }

    /// <inheritdoc/>
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var response = await base.SendAsync(request, ct);
        if (response.Content.Headers.ContentType is not MediaTypeHeaderValue { MediaType: "application/json" }) return response;
        string path = request.RequestUri!.AbsolutePath;
        if (path == "/openapi/v1.json") return response;
        await response.Content.LoadIntoBufferAsync(ct);
        string body = await response.Content.ReadAsStringAsync(ct);
        var contract = await ContractAsync(ct);
        var problems = contract.CheckResponse(request.Method.Method, path, (int)response.StatusCode, body);
        if (problems is null) return response;
        Checked++;
        if (problems.Count > 0) throw new OpenApiContractException(string.Join("\n", problems));
        return response;
    }
}

/// <summary>A response that does not match the OpenAPI document.</summary>
public sealed class OpenApiContractException(string message) : Exception(message);
