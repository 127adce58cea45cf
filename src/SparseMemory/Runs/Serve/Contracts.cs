using System.Text.Json.Serialization;

namespace SparseMemory.Runs.Serve;

// The JSON shapes of the HTTP interface (snake_case on the wire; docs/serve.md). They document the API in
// /openapi/v1.json; requests are parsed and validated by hand (RequestReader) so every bad input gets a clear message.

/// <summary>POST /learn body: a text to learn, optionally with the question it answers and the answer; or a document
/// (instead of text, without question and answer), chunked and augmented (docs/documents.md).</summary>
public sealed record LearnBody(string? Text = null, string? Question = null, string? Answer = null, string? Document = null);

/// <summary>POST /learn response: <c>chunks</c> is 0 for a fact; <c>steps</c> the training steps taken.</summary>
public sealed record LearnResponse(long Id, int Rows, double Loss, double FinalLoss, long[] ChangedRows, bool ChangedRowsTruncated,
    int Paraphrases, double Ms, int Chunks, int Steps);

/// <summary>POST /ask body.</summary>
public sealed record AskBody(string Prompt, int? MaxTokens = null, bool? Raw = null);

/// <summary>POST /ask response: the continuation and the prompt the model actually saw.</summary>
public sealed record AskResponse(string Text, string PromptUsed, bool Wrapped);

/// <summary>
/// POST /v1/completions body (the OpenAI legacy completions shape). <c>stop</c> is a string or an array of up to 4.
/// <c>echo</c> puts the prompt before the completion; <c>logprobs</c> (0 to 5) asks for each token's log-probability
/// and that many alternatives (not with <c>stream</c>). Other OpenAI fields are refused unless they hold their neutral
/// default; unknown fields are refused.
/// </summary>
public sealed record CompletionBody(string Prompt, string? Model = null, int? MaxTokens = null, double? Temperature = null, double? TopP = null,
    int? N = null, string[]? Stop = null, int? Seed = null, bool? Stream = null, StreamOptions? StreamOptions = null, bool? Echo = null, int? Logprobs = null);

/// <summary><c>stream_options</c> of a completion (only with <c>stream: true</c>).</summary>
public sealed record StreamOptions(bool? IncludeUsage = null);

/// <summary>One choice of a completion; <c>logprobs</c> is null unless the request asked for them.</summary>
public sealed record CompletionChoice(string Text, int Index, string FinishReason,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] CompletionLogprobs? Logprobs = null)
{
    /// <summary>Tokens generated for this choice (summed into <see cref="CompletionUsage.CompletionTokens"/>; not sent).</summary>
    [System.Text.Json.Serialization.JsonIgnore] public int Tokens { get; init; }
}

/// <summary>
/// The <c>logprobs</c> of a choice (OpenAI's legacy shape), one entry per token in the four parallel arrays: the token as
/// the tokenizer decodes its id alone, its natural-log probability under the distribution it was sampled from
/// (softmax of logits / temperature; the model's softmax when greedy; the top_p cut is not applied), the most likely
/// tokens at that position with theirs (at most <c>logprobs</c> of them, most likely first; empty for <c>logprobs: 0</c>),
/// and where the token starts in the choice's <c>text</c> (UTF-16 code units). With <c>echo</c> the prompt's tokens come
/// first; the first of them has null in <c>token_logprobs</c> and <c>top_logprobs</c> (nothing precedes it).
/// </summary>
public sealed record CompletionLogprobs(string[] Tokens, double?[] TokenLogprobs, Dictionary<string, double>?[] TopLogprobs, int[] TextOffset);

/// <summary>Token counts of a completion.</summary>
public sealed record CompletionUsage(int PromptTokens, int CompletionTokens, int TotalTokens);

/// <summary>POST /v1/completions response.</summary>
public sealed record CompletionResponse(string Id, string Object, long Created, string Model, CompletionChoice[] Choices, CompletionUsage Usage);

/// <summary>One server-sent event of a streamed completion (<c>stream: true</c>); <c>usage</c> only in the last event, with <c>stream_options.include_usage</c>.</summary>
public sealed record StreamChunk(string Id, string Object, long Created, string Model, StreamChoice[] Choices, CompletionUsage? Usage = null);

/// <summary>One choice in a streamed event: a piece of text, and on the choice's last event its <c>finish_reason</c> (null before).</summary>
public sealed record StreamChoice(string Text, int Index,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] string? FinishReason,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] object? Logprobs = null);

/// <summary>
/// POST /v1/chat/completions body (OpenAI's chat shape): the conversation is rendered with the model's chat template, or
/// as a plain transcript when it has none (docs/serve.md#chat-completions). <c>max_completion_tokens</c> and its older
/// name <c>max_tokens</c> are the same limit (give one). Other OpenAI fields are refused unless they hold their neutral
/// default; unknown fields are refused.
/// </summary>
public sealed record ChatCompletionBody(ChatMessageBody[] Messages, string? Model = null, int? MaxCompletionTokens = null, int? MaxTokens = null,
    double? Temperature = null, double? TopP = null, int? N = null, string[]? Stop = null, int? Seed = null, bool? Stream = null, StreamOptions? StreamOptions = null);

/// <summary>One message of a chat request: role system, developer (read as system), user or assistant; content a string (or an array of text parts).</summary>
public sealed record ChatMessageBody(string Role, string Content);

/// <summary>POST /v1/chat/completions response.</summary>
public sealed record ChatCompletionResponse(string Id, string Object, long Created, string Model, ChatChoice[] Choices, CompletionUsage Usage);

/// <summary>One choice of a chat completion: the assistant's message; <c>logprobs</c> is always null here.</summary>
public sealed record ChatChoice(int Index, ChatReply Message, string FinishReason,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] object? Logprobs = null)
{
    /// <summary>Tokens generated for this choice (summed into <see cref="CompletionUsage.CompletionTokens"/>; not sent).</summary>
    [JsonIgnore] public int Tokens { get; init; }
}

/// <summary>The assistant's message in a chat choice.</summary>
public sealed record ChatReply(string Role, string Content);

/// <summary>One server-sent event of a streamed chat completion; <c>usage</c> only in the last event, with <c>stream_options.include_usage</c>.</summary>
public sealed record ChatStreamChunk(string Id, string Object, long Created, string Model, ChatStreamChoice[] Choices, CompletionUsage? Usage = null);

/// <summary>One choice in a streamed chat event: the role first, then pieces of content, then an empty delta with the <c>finish_reason</c>.</summary>
public sealed record ChatStreamChoice(int Index, ChatDelta Delta,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] object? Logprobs = null);

/// <summary>What a streamed chat event adds: the role (first event of a choice) or a piece of content; both absent in the last.</summary>
public sealed record ChatDelta(string? Role = null, string? Content = null);

/// <summary>POST /undo/{id} response.</summary>
public sealed record UndoResponse(long[] Undone, int Rows);

/// <summary>One learn in GET /learned: <c>question</c>, <c>answer</c> and <c>undone_at</c> are always present (null when absent).</summary>
public sealed record LearnedItem(long Id, DateTime Time, string Text,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Question,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Answer, int Rows, double Loss, bool Undone,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] DateTime? UndoneAt, string Kind);

/// <summary>GET /learned response.</summary>
public sealed record LearnedResponse(int Count, LearnedItem[] Learns);

/// <summary>GET /stats response (docs/serve.md lists the fields).</summary>
/// <param name="FactsLearned">Learns not undone.</param>
/// <param name="LearnsTotal">Every learn journaled, undone ones included.</param>
/// <param name="Undone">Learns undone.</param>
/// <param name="DistinctRowsChanged">Value rows changed by the learns not undone (each counted once).</param>
/// <param name="ValueRows">Rows of the value table (slots).</param>
/// <param name="JournalLines">Lines in the journal (learns and undos).</param>
/// <param name="CheckpointJournalLine">The last journal line the service checkpoint holds.</param>
/// <param name="Queue">Work items waiting for the torch thread (learns, undos, asks).</param>
/// <param name="Lr">The learning rate in effect.</param>
/// <param name="TopT">t: rows updated per learn step.</param>
/// <param name="StepsPerLearn">Optimizer steps per learn.</param>
/// <param name="ForgettingCheck">The forgetting check.</param>
public sealed record StatsResponse(int FactsLearned, int LearnsTotal, int Undone, int DistinctRowsChanged, long ValueRows, long JournalLines,
    long CheckpointJournalLine, int Queue, double Lr, int TopT, int StepsPerLearn, ForgettingCheckStats ForgettingCheck);

/// <summary>
/// The forgetting check in GET /stats. Metrics are keyed <c>probe/metric</c> (<c>known-facts-f1/f1</c>,
/// <c>heldout-nll/nll_per_token</c>); a non-finite value is null. <c>at_start</c>, <c>latest</c>,
/// <c>latest_after_learns</c>, <c>drift</c> and <c>history</c> are null while the check is off.
/// </summary>
public sealed record ForgettingCheckStats(bool Enabled, int Every, int Limit,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] Dictionary<string, double?>? AtStart,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] Dictionary<string, double?>? Latest,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] int? LatestAfterLearns,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] Dictionary<string, double?>? Drift,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] CheckRecord[]? History);

/// <summary>One forgetting check: the active learns at the time, when, the values and their drift since start.</summary>
public sealed record CheckRecord(int Learns, DateTime Time, Dictionary<string, double?> Values, Dictionary<string, double?> Drift);

/// <summary>GET /health response.</summary>
public sealed record HealthResponse(string Status, string Model, int FactsLearned, long JournalLines, double Lr, int TopT);

/// <summary>The body of every 4xx/5xx answer of /v1/completions and /v1/chat/completions, in OpenAI's shape.</summary>
public sealed record OpenAiErrorResponse(OpenAiErrorDetail Error);

/// <summary>What went wrong, as OpenAI reports it: <c>param</c> and <c>code</c> are always present, null when they do not apply.</summary>
/// <param name="Message">A sentence for people.</param>
/// <param name="Type">invalid_request_error, authentication_error, busy, server_error …</param>
/// <param name="Param">The request field at fault, or null.</param>
/// <param name="Code">A machine-readable reason (model_not_found, context_length_exceeded), or null.</param>
public sealed record OpenAiErrorDetail(string Message, string Type,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] string? Param,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] string? Code);

/// <summary>The body of every 4xx/5xx answer.</summary>
public sealed record ErrorResponse(ErrorDetail Error);

/// <summary>What went wrong.</summary>
/// <param name="Message">A sentence for people.</param>
/// <param name="Type">invalid_request_error, authentication_error, not_found, conflict, rate_limit, busy, server_error.</param>
/// <param name="Code">The HTTP status.</param>
/// <param name="Later">409 on undo: the later learns that changed the same rows.</param>
public sealed record ErrorDetail(string Message, string Type, int Code, long[]? Later = null);
