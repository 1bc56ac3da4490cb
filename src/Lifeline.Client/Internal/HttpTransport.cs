using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Lifeline.Protocol;

namespace Lifeline.Client.Internal;

/// <summary>
/// The HTTP transport under a connection (PROTOCOL.md "HTTP transport"; the browser client's httpSocket.ts does the
/// same): the first message sent (the <c>hello</c>) opens the connection as the body of <c>POST {path}/stream</c>;
/// server messages arrive as Server-Sent Events; later messages go, one request at a time and batched as NDJSON (at most
/// <see cref="MaxBatchBytes"/> a body; after a 413 for a batch, one message a body), to <c>POST {path}/send</c> with the
/// <c>Lifeline-Send</c> capability from the <c>welcome</c>. A 413 for a body of one message ends the connection as a
/// WebSocket's 1009 would (<see cref="CloseTooBigAsync"/>). In poll mode the stream
/// request carries <c>?poll=1</c>, its response ends after one batch, and the transport asks <c>POST {path}/poll</c>
/// for the next until the connection ends. The server's close is a <c>close</c> event; a response that ends without
/// one, and a 404 on a send or poll, are a lost connection (1006).
/// </summary>
internal sealed class HttpTransport : IClientTransport
{
    /// <summary>The header that carries a connection's send capability.</summary>
    public const string SendHeader = "Lifeline-Send";

    /// <summary>
    /// The most bytes one send body carries when it holds more than one message: half the server's default
    /// <c>MaxMessageSize</c> (64 KiB), the limit of a whole send body (PROTOCOL.md: <c>413</c> for a body over it). A
    /// single larger message still goes alone.
    /// </summary>
    internal const int MaxBatchBytes = 32 * 1024;

    private static readonly MediaTypeHeaderValue JsonContentType = new("application/json");

    private readonly HttpClient _http;
    private readonly string _base;
    private readonly bool _poll;
    private readonly Action<HttpRequestMessage>? _configureRequest;
    private readonly TimeProvider _time;
    private readonly TimeSpan _closeGrace;
    private readonly CancellationTokenSource _cts = new();
    private readonly CancellationToken _token;
    private readonly Channel<Incoming> _incoming = Channel.CreateUnbounded<Incoming>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _lock = new();
    private readonly List<byte[]> _outgoing = [];
    private Task _reader = Task.CompletedTask;
    private bool _sending;
    private bool _oneAtATime; // a batch was refused with 413: this server's limit is lower, messages go one per body
    private bool _started;
    private string? _capability;
    private volatile bool _responded;
    private volatile bool _streamPending; // the opening request was sent and its response head has not come yet
    private volatile bool _pendingAtEnd; // the transport ended while the opening request still waited for its answer
    private volatile bool _ended;
    private int? _closeStatus;

    public HttpTransport(Uri webSocketUrl, LifelineTransport kind, LifelineClientOptions options)
    {
        Kind = kind;
        _poll = kind == LifelineTransport.HttpPoll;
        _base = HttpBaseUrl(webSocketUrl);
        _configureRequest = options.ConfigureHttpRequest;
        _time = options.TimeProvider;
        _closeGrace = options.CloseTimeout;
        _token = _cts.Token;
        var handler = new SocketsHttpHandler();
        options.ConfigureHttpHandler?.Invoke(handler);
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public LifelineTransport Kind { get; }

    /// <summary>
    /// True once the stream request was answered with 200, or when the transport ended while that request was still
    /// waiting for its answer: the HTTP endpoint took the request (a refused connection or an error status would have
    /// answered), and a buffering proxy holds what came back, the response head included (nginx with gzip does). The
    /// browser client's <c>HttpSocket.responded</c> is the same.
    /// </summary>
    public bool Opened => _responded || _pendingAtEnd;

    public bool UpgradeRefused => false;

    public bool IsOpen
    {
        get
        {
            lock (_lock)
            {
                return !_ended && _capability is not null;
            }
        }
    }

    public bool AwaitsCloseEcho => false;

    public int? CloseStatus => _closeStatus;

    /// <summary>Maps the WebSocket URL (<c>ws://host/ws</c>, <c>wss://...</c>) to the HTTP base of the same endpoint (<c>http://host/ws</c>).</summary>
    public static string HttpBaseUrl(Uri webSocketUrl)
    {
        var builder = new UriBuilder(webSocketUrl)
        {
            Scheme = webSocketUrl.Scheme switch
            {
                "ws" => Uri.UriSchemeHttp,
                "wss" => Uri.UriSchemeHttps,
                _ => webSocketUrl.Scheme,
            },
            Query = string.Empty,
            Fragment = string.Empty,
        };
        if (builder.Uri.IsDefaultPort)
        {
            builder.Port = -1;
        }

        return builder.Uri.GetLeftPart(UriPartial.Path).TrimEnd('/');
    }

    /// <summary>There is no handshake before the hello: the hello opens the stream.</summary>
    public Task ConnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async ValueTask<TransportReceiveResult> ReceiveAsync(IBufferWriter<byte> buffer, Action onData, CancellationToken cancellationToken)
    {
        Incoming item;
        try
        {
            item = await _incoming.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException ex)
        {
            throw new IOException("the HTTP connection has ended", ex);
        }

        onData();
        if (item.Message is { } message)
        {
            buffer.Write(message);
            return new TransportReceiveResult(TransportReceiveKind.Text);
        }

        if (item.Lost is { } lost)
        {
            throw new IOException(lost);
        }

        return new TransportReceiveResult(TransportReceiveKind.Close, item.CloseCode, item.Reason);
    }

    /// <summary>The first message (the hello) opens the stream; the others are queued and sent in order once the welcome came.</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_ended)
            {
                throw new IOException("the HTTP connection has ended");
            }

            if (!_started)
            {
                _started = true;
                var hello = message.ToArray();
                _reader = Task.Run(() => ReadAsync(hello), CancellationToken.None);
                return ValueTask.CompletedTask;
            }

            _outgoing.Add(message.ToArray());
        }

        Pump();
        return ValueTask.CompletedTask;
    }

    /// <summary>Sends <c>{"type":"close","code":N}</c> after what is queued; the server answers with its <c>close</c> event.</summary>
    public Task CloseOutputAsync(int code, string? reason, CancellationToken cancellationToken)
    {
        var close = JsonSerializer.SerializeToUtf8Bytes(new CloseBody("close", code, string.IsNullOrEmpty(reason) ? null : reason), HttpTransportJsonContext.Default.CloseBody);
        return SendAsync(close, cancellationToken).AsTask();
    }

    public void Abort() => End(new Incoming(Lost: "aborted"));

    public void Dispose()
    {
        Abort();
        _http.Dispose();
        _cts.Dispose();
    }

    /// <summary>The stream (or the chain of polls): reads events until the connection ends.</summary>
    private async Task ReadAsync(byte[] hello)
    {
        try
        {
            HttpResponseMessage response;
            _streamPending = true;
            try
            {
                response = await PostAsync(_poll ? "/stream?poll=1" : "/stream", hello, null, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            }
            finally
            {
                _streamPending = false;
            }

            while (true)
            {
                using (response)
                {
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        End(new Incoming(Lost: response.StatusCode == HttpStatusCode.NotFound ? "connection_gone" : $"http_{(int)response.StatusCode}"));
                        return;
                    }

                    _responded = true;
                    if (await ReadEventsAsync(response).ConfigureAwait(false))
                    {
                        return;
                    }
                }

                if (!_poll)
                {
                    // A stream that ends without a close event is a lost connection (1006).
                    End(new Incoming(Lost: "stream_ended"));
                    return;
                }

                string? capability;
                lock (_lock)
                {
                    capability = _capability;
                }

                if (capability is null)
                {
                    End(new Incoming(Lost: "no_welcome"));
                    return;
                }

                response = await PostAsync("/poll", [], capability, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            End(new Incoming(Lost: $"http_failed: {ex.Message}"));
        }
    }

    /// <summary>Reads one response as Server-Sent Events. Returns true when it carried the server's close.</summary>
    private async Task<bool> ReadEventsAsync(HttpResponseMessage response)
    {
        var stream = await response.Content.ReadAsStreamAsync(_token).ConfigureAwait(false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var data = new StringBuilder();
        var hasData = false;
        while (true)
        {
            var line = await reader.ReadLineAsync(_token).ConfigureAwait(false);
            if (line is null || line.Length == 0)
            {
                if (hasData && Deliver(data.ToString()))
                {
                    return true;
                }

                data.Clear();
                hasData = false;
                if (line is null)
                {
                    return false;
                }

                continue;
            }

            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                if (hasData)
                {
                    data.Append('\n');
                }

                data.Append(line.AsSpan(line.StartsWith("data: ", StringComparison.Ordinal) ? 6 : 5));
                hasData = true;
            }

            // Comments (":"), event:, id: and retry: lines carry nothing for Lifeline.
        }
    }

    /// <summary>Hands one event's message to the receiver; returns true when it was the server's close.</summary>
    private bool Deliver(string text)
    {
        if (_ended)
        {
            return true;
        }

        var control = Peek(text);
        if (control is { Type: "close" })
        {
            _closeStatus = control.Code ?? 1005;
            End(new Incoming(CloseCode: control.Code, Reason: control.Reason));
            return true;
        }

        _incoming.Writer.TryWrite(new Incoming(Message: Encoding.UTF8.GetBytes(text)));
        if (control is { Type: "welcome", Send: { } send })
        {
            lock (_lock)
            {
                _capability = send;
            }

            Pump();
        }

        return false;
    }

    /// <summary>Sends what is queued, one request at a time, as NDJSON.</summary>
    private void Pump()
    {
        List<byte[]> messages;
        string capability;
        lock (_lock)
        {
            if (_sending || _ended || _capability is null || _outgoing.Count == 0)
            {
                return;
            }

            messages = TakeBatch(_outgoing, _oneAtATime ? 1 : MaxBatchBytes);
            _sending = true;
            capability = _capability;
        }

        _ = SendBatchAsync(messages, capability);
    }

    /// <summary>
    /// Takes the first messages of <paramref name="outgoing"/> whose body (joined by line feeds) stays within
    /// <paramref name="maxBytes"/>; always at least one.
    /// </summary>
    internal static List<byte[]> TakeBatch(List<byte[]> outgoing, int maxBytes)
    {
        var count = 0;
        var bytes = 0;
        while (count < outgoing.Count)
        {
            var next = bytes + (count > 0 ? 1 : 0) + outgoing[count].Length;
            if (count > 0 && next > maxBytes)
            {
                break;
            }

            bytes = next;
            count++;
        }

        var batch = outgoing.GetRange(0, count);
        outgoing.RemoveRange(0, count);
        return batch;
    }

    private async Task SendBatchAsync(List<byte[]> messages, string capability)
    {
        try
        {
            using var response = await PostAsync("/send", Join(messages), capability, HttpCompletionOption.ResponseContentRead).ConfigureAwait(false);
            if (response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.OK)
            {
                lock (_lock)
                {
                    _sending = false;
                }

                Pump();
                return;
            }

            if (response.StatusCode == HttpStatusCode.RequestEntityTooLarge && messages.Count == 1)
            {
                await CloseTooBigAsync(capability).ConfigureAwait(false);
                return;
            }

            if (response.StatusCode == HttpStatusCode.RequestEntityTooLarge)
            {
                // The server's limit is lower than the batch: it applied nothing of the body (PROTOCOL.md), so the same
                // messages go again, in order, one per body from now on.
                lock (_lock)
                {
                    _outgoing.InsertRange(0, messages);
                    _oneAtATime = true;
                    _sending = false;
                }

                Pump();
                return;
            }

            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                // The connection is gone. Its close event may still be on its way (a server close races our send):
                // give the stream a moment to deliver it, so the client sees the server's code rather than 1006.
                await Task.WhenAny(_reader, Task.Delay(_closeGrace, _time, _token)).ConfigureAwait(false);
                End(new Incoming(Lost: "connection_gone"));
                return;
            }

            End(new Incoming(Lost: $"send_http_{(int)response.StatusCode}"));
        }
        catch (Exception ex)
        {
            End(new Incoming(Lost: $"send_failed: {ex.Message}"));
        }
    }

    /// <summary>
    /// A body of one message was answered 413: that message can never be accepted (the server's limit, or a proxy's), and
    /// sending it again after a reconnect would be refused again, forever. Over a WebSocket the server closes such a
    /// message with 1009 (no reconnect); here the client does the same: it tells the server with
    /// <c>{"type":"close","code":1009,"reason":"message_too_big"}</c> (best effort, within <c>CloseTimeout</c>, before
    /// the stream is dropped, so the server tears down with 1009 rather than 1006), then ends the connection with the
    /// close 1009 <c>message_too_big</c>, exactly as if the server had sent it.
    /// </summary>
    private async Task CloseTooBigAsync(string capability)
    {
        var close = JsonSerializer.SerializeToUtf8Bytes(
            new CloseBody("close", CloseCode.MessageTooBig.Code, CloseCode.MessageTooBig.Reason),
            HttpTransportJsonContext.Default.CloseBody);
        try
        {
            using var bound = new CancellationTokenSource(_closeGrace, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(bound.Token, _token);
            using var response = await PostAsync("/send", close, capability, HttpCompletionOption.ResponseContentRead, linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // Best effort: the server may be gone already; the connection ends with 1009 all the same.
        }

        End(new Incoming(CloseCode: CloseCode.MessageTooBig.Code, Reason: CloseCode.MessageTooBig.Reason));
    }

    private Task<HttpResponseMessage> PostAsync(string path, byte[] body, string? capability, HttpCompletionOption completion, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, _base + path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = JsonContentType;
        if (capability is not null)
        {
            request.Headers.TryAddWithoutValidation(SendHeader, capability);
        }

        _configureRequest?.Invoke(request);
        return _http.SendAsync(request, completion, cancellationToken.CanBeCanceled ? cancellationToken : _token);
    }

    /// <summary>Ends the transport once: the receiver gets <paramref name="last"/>, then nothing more; requests in flight are cancelled.</summary>
    private void End(Incoming last)
    {
        lock (_lock)
        {
            if (_ended)
            {
                return;
            }

            _ended = true;
            _pendingAtEnd = _streamPending;
            _outgoing.Clear();
        }

        _incoming.Writer.TryWrite(last);
        _incoming.Writer.TryComplete();
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static byte[] Join(List<byte[]> messages)
    {
        var length = messages.Sum(m => m.Length) + messages.Count - 1;
        var joined = new byte[length];
        var at = 0;
        foreach (var message in messages)
        {
            if (at > 0)
            {
                joined[at++] = (byte)'\n';
            }

            message.CopyTo(joined, at);
            at += message.Length;
        }

        return joined;
    }

    /// <summary>
    /// Reads the members the transport needs from a <c>welcome</c> or <c>close</c> without failing on bad JSON. Other
    /// messages (the server writes <c>type</c> first) are not parsed here: the client parses every message once, later.
    /// </summary>
    private static Control? Peek(string text)
    {
        var head = text.AsSpan(0, Math.Min(text.Length, 24));
        if (!head.StartsWith("{\"type\":\"welcome\"", StringComparison.Ordinal) && !head.StartsWith("{\"type\":\"close\"", StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            string? Str(string name) => root.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
            int? code = root.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number && c.TryGetInt32(out var n) ? n : null;
            return new Control(Str("type"), Str("send"), code, Str("reason"));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private sealed record Control(string? Type, string? Send, int? Code, string? Reason);

    /// <summary>One thing for the receiver: a message, the server's close, or why the connection was lost.</summary>
    private readonly record struct Incoming(byte[]? Message = null, int? CloseCode = null, string? Reason = null, string? Lost = null);
}

/// <summary>The client's close message over the HTTP transport.</summary>
internal sealed record CloseBody(
    [property: System.Text.Json.Serialization.JsonPropertyName("type")] string Type,
    [property: System.Text.Json.Serialization.JsonPropertyName("code")] int Code,
    [property: System.Text.Json.Serialization.JsonPropertyName("reason")]
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    string? Reason);

[System.Text.Json.Serialization.JsonSerializable(typeof(CloseBody))]
internal sealed partial class HttpTransportJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
