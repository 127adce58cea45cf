using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;

namespace SparseMemory.Serve;

/// <summary>
/// Kestrel rejects a request whose path holds a NUL byte (<c>%00</c>, or a raw 0 byte) while parsing the request line,
/// with an empty 400 and before any application code runs. So that such a request gets the service's JSON error like
/// every other bad input, this filter sits between the socket and Kestrel's parser (docs/serve.md, "Errors"): it follows
/// HTTP/1.1 framing (request line, headers, a Content-Length or chunked body, then the next pipelined request), replaces
/// each NUL in a request path with <c>%EF%BF%BD</c> (U+FFFD) and adds the header <see cref="MarkerHeader"/> after that
/// request line. The first middleware answers a request carrying the header with a JSON 400. Bodies, queries and
/// headers pass unchanged, byte for byte, and are forwarded as they arrive (at most the two bytes of a partial
/// <c>%0</c> wait), so Kestrel's timeouts see the same bytes at the same times. Anything the filter does not follow
/// (HTTP/2, an upgrade, a malformed head) it passes through unchanged from then on: Kestrel decides as before.
/// </summary>
public sealed class NulPathFilter
{
    /// <summary>The header added after a request line whose path held a NUL byte.</summary>
    public const string MarkerHeader = "X-Smf-Nul-In-Path";

    static readonly byte[] Replacement = "%EF%BF%BD"u8.ToArray();
    static readonly byte[] MarkerLine = Encoding.ASCII.GetBytes(MarkerHeader + ": 1\r\n");

    /// <summary>Longest header or chunk-size line the filter follows; a longer one switches it to pass-through.</summary>
    const int MaxLineBytes = ServeApp.KestrelMaxHeaderBytes;

    enum State { RequestLine, Headers, Body, ChunkSize, ChunkData, ChunkEnd, Trailers, PassThrough }
    enum Part { Method, Path, Rest }

    State state = State.RequestLine;
    Part part = Part.Method;
    int percentHeld;                 // 1 after '%', 2 after "%0" in a path
    bool sawNul, lineStarted, chunked, upgrade;
    long contentLength = -1, remaining;
    readonly List<byte> line = [];   // the current header or chunk line, for parsing only (its bytes are already forwarded)

    /// <summary>True once the filter has stopped following the stream and forwards it unchanged.</summary>
    public bool PassingThrough => state == State.PassThrough;

    /// <summary>Filters <paramref name="input"/> (the next bytes from the client) into <paramref name="output"/>.</summary>
    public void Feed(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        int i = 0;
        while (i < input.Length)
        {
            switch (state)
            {
                case State.PassThrough:
                    output.Write(input[i..]);
                    return;
                case State.Body or State.ChunkData or State.ChunkEnd:
                {
                    int n = (int)Math.Min(remaining, input.Length - i);
                    output.Write(input.Slice(i, n));
                    i += n;
                    remaining -= n;
                    if (remaining == 0)
                    {
                        if (state == State.ChunkData) { state = State.ChunkEnd; remaining = 2; }
                        else if (state == State.ChunkEnd) StartLine(State.ChunkSize);
                        else StartRequest();
                    }
                    break;
                }
                case State.RequestLine:
                    RequestLineByte(input[i++], output);
                    break;
                default:
                    byte b = input[i++];
                    output.Write([b]);
                    if (b != (byte)'\n')
                    {
                        line.Add(b);
                        if (line.Count > MaxLineBytes) state = State.PassThrough;
                    }
                    else EndLine();
                    break;
            }
        }
    }

    void RequestLineByte(byte b, IBufferWriter<byte> output)
    {
        if (!lineStarted && (b == (byte)'\r' || b == (byte)'\n')) { output.Write([b]); return; }   // empty lines before a request
        lineStarted = true;
        if (part == Part.Path)
        {
            if (percentHeld == 1)
            {
                if (b == (byte)'0') { percentHeld = 2; return; }
                percentHeld = 0;
                output.Write("%"u8);
            }
            else if (percentHeld == 2)
            {
                percentHeld = 0;
                if (b == (byte)'0') { output.Write(Replacement); sawNul = true; return; }
                output.Write("%0"u8);
            }
            if (b == (byte)'%') { percentHeld = 1; return; }
            if (b == 0) { output.Write(Replacement); sawNul = true; return; }
            if (b == (byte)'?' || b == (byte)' ' || b == (byte)'\r' || b == (byte)'\n') part = Part.Rest;
        }
        else if (part == Part.Method && b == (byte)' ') { output.Write([b]); part = Part.Path; line.Add(b); return; }
        output.Write([b]);
        if (b != (byte)'\n') { line.Add(b); if (line.Count > MaxLineBytes) state = State.PassThrough; return; }

        // End of the request line: only HTTP/1.x is followed.
        string text = Encoding.Latin1.GetString(line.ToArray()).TrimEnd('\r');
        if (!text.EndsWith(" HTTP/1.1", StringComparison.Ordinal) && !text.EndsWith(" HTTP/1.0", StringComparison.Ordinal))
        {
            state = State.PassThrough;
            return;
        }
        if (sawNul) output.Write(MarkerLine);
        StartLine(State.Headers);
    }

    void EndLine()
    {
        string text = Encoding.Latin1.GetString(line.ToArray());
        if (text.EndsWith('\r')) text = text[..^1];
        line.Clear();
        switch (state)
        {
            case State.Headers when text.Length == 0:
                if (upgrade) state = State.PassThrough;
                else if (chunked) StartLine(State.ChunkSize);
                else if (contentLength > 0) { state = State.Body; remaining = contentLength; }
                else StartRequest();
                break;
            case State.Headers:
                Header(text);
                break;
            case State.ChunkSize:
            {
                string size = text.Split(';', 2)[0].Trim();
                if (size.Length is 0 or > 15 || !long.TryParse(size, System.Globalization.NumberStyles.AllowHexSpecifier, null, out long n))
                    state = State.PassThrough;
                else if (n == 0) StartLine(State.Trailers);
                else { state = State.ChunkData; remaining = n; }
                break;
            }
            case State.Trailers when text.Length == 0:
                StartRequest();
                break;
        }
    }

    void Header(string text)
    {
        int colon = text.IndexOf(':');
        if (colon <= 0 || char.IsWhiteSpace(text[0])) { state = State.PassThrough; return; }   // malformed or folded: Kestrel rejects it
        string name = text[..colon].Trim(), value = text[(colon + 1)..].Trim();
        if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
        {
            if (!long.TryParse(value, System.Globalization.NumberStyles.None, null, out long n) || (contentLength >= 0 && contentLength != n))
                state = State.PassThrough;
            else contentLength = n;
        }
        else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
        {
            // Kestrel reads a body as chunked when chunked is the last coding, and refuses any other Transfer-Encoding.
            if (value.Split(',').Select(v => v.Trim()).LastOrDefault()?.Equals("chunked", StringComparison.OrdinalIgnoreCase) == true) chunked = true;
            else state = State.PassThrough;
        }
        else if (name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase) || name.Equals("Connection", StringComparison.OrdinalIgnoreCase)
                 && value.Split(',').Any(v => v.Trim().Equals("upgrade", StringComparison.OrdinalIgnoreCase)))
            upgrade = true;
    }

    void StartLine(State next)
    {
        state = next;
        line.Clear();
    }

    void StartRequest()
    {
        StartLine(State.RequestLine);
        part = Part.Method;
        percentHeld = 0;
        sawNul = lineStarted = chunked = upgrade = false;
        contentLength = -1;
        remaining = 0;
    }

    /// <summary>The connection middleware: the filter between the connection's input and Kestrel.</summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => async connection =>
    {
        var transport = new Transport(connection.Transport);
        connection.Transport = transport;
        try { await next(connection); }
        finally { await transport.StopAsync(); }
    };

    /// <summary>The connection's pipes with the input run through a <see cref="NulPathFilter"/> by a pump task.</summary>
    sealed class Transport : IDuplexPipe
    {
        readonly IDuplexPipe inner;
        readonly Pipe filtered = new(new PipeOptions(useSynchronizationContext: false));
        readonly Task pump;

        public Transport(IDuplexPipe inner)
        {
            this.inner = inner;
            pump = Task.Run(PumpAsync);
        }

        public PipeReader Input => filtered.Reader;
        public PipeWriter Output => inner.Output;

        async Task PumpAsync()
        {
            var filter = new NulPathFilter();
            Exception? error = null;
            try
            {
                while (true)
                {
                    var read = await inner.Input.ReadAsync();
                    if (read.IsCanceled) break;                        // StopAsync: Kestrel is done with the connection
                    foreach (var segment in read.Buffer) filter.Feed(segment.Span, filtered.Writer);
                    inner.Input.AdvanceTo(read.Buffer.End);
                    var flush = await filtered.Writer.FlushAsync();
                    if (read.IsCompleted || flush.IsCompleted) break;
                }
            }
            catch (Exception e) { error = e; }                        // a reset connection: Kestrel sees the same error
            await filtered.Writer.CompleteAsync(error);
        }

        public async Task StopAsync()
        {
            inner.Input.CancelPendingRead();
            await pump;
        }
    }
}
