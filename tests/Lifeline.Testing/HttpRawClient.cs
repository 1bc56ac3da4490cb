using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Lifeline.Testing;

/// <summary>
/// A bare protocol peer on the HTTP transport (PROTOCOL.md "HTTP transport"): it opens <c>POST {path}/stream</c> with
/// a hello (or exactly the body a test gives), reads the Server-Sent Events in one background loop (long polling with
/// <c>poll</c>: the loop polls <c>POST {path}/poll</c> after each batch), and sends NDJSON bodies to
/// <c>POST {path}/send</c> with the <c>Lifeline-Send</c> capability from the welcome. Pings are answered while
/// <see cref="AutoPong"/> is true; <see cref="PauseReading"/> stops the loop reading (or polling) so a test can play a
/// slow consumer. The server's <c>close</c> event is reported in <see cref="Closed"/>; a stream (or a poll) that ends
/// without one is 1006.
/// </summary>
public sealed class HttpRawClient : IAsyncDisposable
{
    /// <summary>The header that carries the send capability.</summary>
    public const string SendHeader = "Lifeline-Send";

    private readonly HttpClient _http;
    private readonly Uri _base;
    private readonly Channel<JsonElement> _inbox = Channel.CreateUnbounded<JsonElement>();
    private readonly TaskCompletionSource<(int Code, string? Reason)> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private TaskCompletionSource? _paused;
    private Task? _loop;

    private HttpRawClient(HttpClient http, Uri baseUri, bool polling)
    {
        _http = http;
        _base = baseUri;
        Polling = polling;
    }

    /// <summary>True for long polling, false for the stream.</summary>
    public bool Polling { get; }

    /// <summary>The status of the stream request's answer.</summary>
    public HttpStatusCode StreamStatus { get; private set; }

    /// <summary>The stream response's headers (empty when it was refused).</summary>
    public HttpResponseHeaders? StreamHeaders { get; private set; }

    /// <summary>The stream response's content headers (Content-Type).</summary>
    public HttpContentHeaders? StreamContentHeaders { get; private set; }

    /// <summary>The send capability, once the welcome arrived.</summary>
    public string? SendCapability { get; private set; }

    /// <summary>When true (the default), server pings are answered with a pong via send.</summary>
    public bool AutoPong { get; set; } = true;

    /// <summary>Every <c>data:</c> line received, in order (for tests of the wire format).</summary>
    public List<string> RawEvents { get; } = [];

    /// <summary>Completes with the server's close code and reason; 1006 when the response ended without a close event.</summary>
    public Task<(int Code, string? Reason)> Closed => _closed.Task;

    /// <summary>The HTTP base of the endpoint: <c>http://host:port{path}</c> for the WebSocket URI <c>ws://host:port{path}</c>.</summary>
    public static Uri HttpBase(Uri wsUri) => new UriBuilder(wsUri) { Scheme = wsUri.Scheme == "wss" ? "https" : "http" }.Uri;

    /// <summary>A client for raw requests (no pooling surprises: one connection per request when needed).</summary>
    public static HttpClient NewHttpClient() => new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>
    /// Opens a stream with <paramref name="body"/> as the request body. When the answer is 200 the reading loop starts;
    /// otherwise <see cref="StreamStatus"/> says what the server answered and nothing is read.
    /// </summary>
    public static async Task<HttpRawClient> OpenAsync(Uri wsUri, string body, bool poll = false, Action<HttpRequestMessage>? configure = null)
    {
        var baseUri = HttpBase(wsUri);
        var client = new HttpRawClient(NewHttpClient(), baseUri, poll);
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUri + "/stream" + (poll ? "?poll=1" : string.Empty)))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        configure?.Invoke(request);
        var response = await client._http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, client._stop.Token);
        client.StreamStatus = response.StatusCode;
        client.StreamHeaders = response.Headers;
        client.StreamContentHeaders = response.Content.Headers;
        if (response.StatusCode != HttpStatusCode.OK)
        {
            response.Dispose();
            client._closed.TrySetResult((0, $"HTTP {(int)response.StatusCode}"));
            client._inbox.Writer.TryComplete();
            return client;
        }

        client._loop = Task.Run(() => client.ReadLoopAsync(response));
        return client;
    }

    /// <summary>Opens a stream with a hello (<paramref name="token"/>, <paramref name="resume"/>) and returns the welcome.</summary>
    public static async Task<(HttpRawClient Client, JsonElement Welcome)> ConnectLiveAsync(Uri wsUri, string? token = null, string? resume = null, bool poll = false)
    {
        var client = await OpenAsync(wsUri, JsonSerializer.Serialize(new { type = "hello", v = 1, token, resume }), poll);
        if (client.StreamStatus != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"the stream was refused with {(int)client.StreamStatus}");
        }

        return (client, await client.ReceiveTypeAsync("welcome"));
    }

    /// <summary>Sends one message, serialized as JSON; returns the send's status.</summary>
    public Task<HttpStatusCode> SendJsonAsync(object message) => SendTextAsync(JsonSerializer.Serialize(message));

    /// <summary>Sends several messages in one body, one per line.</summary>
    public Task<HttpStatusCode> SendLinesAsync(params object[] messages) =>
        SendTextAsync(string.Join('\n', messages.Select(m => JsonSerializer.Serialize(m))) + "\n");

    /// <summary>Sends <paramref name="body"/> as it is (one request at a time, as a client must); returns the send's status.</summary>
    public Task<HttpStatusCode> SendTextAsync(string body) => SendBytesAsync(Encoding.UTF8.GetBytes(body));

    /// <summary>Sends raw bytes as the body; returns the send's status.</summary>
    public async Task<HttpStatusCode> SendBytesAsync(byte[] body)
    {
        await _sendLock.WaitAsync();
        try
        {
            return await PostAsync(_http, _base, "/send", SendCapability, body);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>A raw <c>POST {path}{suffix}</c> with the capability header (omitted when null); returns the status.</summary>
    public static async Task<HttpStatusCode> PostAsync(HttpClient http, Uri baseUri, string suffix, string? capability, byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUri + suffix)) { Content = new ByteArrayContent(body) };
        if (capability is not null)
        {
            request.Headers.TryAddWithoutValidation(SendHeader, capability);
        }

        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        using var response = await http.SendAsync(request, cts.Token);
        return response.StatusCode;
    }

    /// <summary>Sends the client's close (<c>{"type":"close","code":N}</c>); <see cref="Closed"/> completes with the server's answer.</summary>
    public Task<HttpStatusCode> CloseAsync(int code = 1000) => SendJsonAsync(new { type = "close", code });

    /// <summary>Stops reading (stream) or polling (long polling) until <see cref="ResumeReading"/>.</summary>
    public void PauseReading() => Interlocked.CompareExchange(ref _paused, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);

    /// <summary>Reads (or polls) again.</summary>
    public void ResumeReading() => Interlocked.Exchange(ref _paused, null)?.TrySetResult();

    /// <summary>Drops the stream request (or the poll in progress) as a network cut would: the server sees it aborted.</summary>
    public void Drop() => _stop.Cancel();

    /// <summary>Receives the next server message; null once the connection ended.</summary>
    public async Task<JsonElement?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        return await _inbox.Reader.WaitToReadAsync(cts.Token) && _inbox.Reader.TryRead(out var next) ? next : null;
    }

    /// <summary>Receives until a message of <paramref name="type"/> arrives (others are skipped).</summary>
    public Task<JsonElement> ReceiveTypeAsync(string type, TimeSpan? timeout = null) =>
        ReceiveAnyAsync(m => m.GetProperty("type").GetString() == type, timeout, type);

    /// <summary>Receives until a message matching <paramref name="match"/> arrives (others are skipped).</summary>
    public async Task<JsonElement> ReceiveAnyAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null, string? what = null)
    {
        while (true)
        {
            var message = await ReceiveAsync(timeout) ?? throw new InvalidOperationException($"connection ended ({(Closed.IsCompleted ? Closed.Result : default)}) while waiting for {what ?? "a matching message"}");
            if (match(message))
            {
                return message;
            }
        }
    }

    /// <summary>Receives messages (keeping all of them) until <paramref name="done"/> holds for what arrived.</summary>
    public async Task<List<JsonElement>> ReceiveUntilAsync(Func<List<JsonElement>, bool> done, TimeSpan? timeout = null)
    {
        var received = new List<JsonElement>();
        while (!done(received))
        {
            received.Add(await ReceiveAsync(timeout) ?? throw new InvalidOperationException("connection ended"));
        }

        return received;
    }

    /// <summary>Waits for the end of the connection; returns the close code (1006 without a close event) and reason.</summary>
    public Task<(int Code, string? Reason)> WaitForCloseAsync(TimeSpan? timeout = null) => Closed.WaitAsync(timeout ?? TestTimeouts.Default);

    private async Task ReadLoopAsync(HttpResponseMessage first)
    {
        var response = first;
        try
        {
            while (true)
            {
                using (response)
                {
                    if (await ReadEventsAsync(response))
                    {
                        return; // a close event
                    }
                }

                if (!Polling)
                {
                    return;
                }

                if (Volatile.Read(ref _paused) is { } paused)
                {
                    await paused.Task.WaitAsync(_stop.Token);
                }

                var poll = new HttpRequestMessage(HttpMethod.Post, new Uri(_base + "/poll")) { Content = new ByteArrayContent([]) };
                poll.Headers.TryAddWithoutValidation(SendHeader, SendCapability);
                response = await _http.SendAsync(poll, HttpCompletionOption.ResponseHeadersRead, _stop.Token);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    response.Dispose();
                    return; // 404: the connection ended
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // the response ended abruptly, or the test dropped it
        }
        finally
        {
            _closed.TrySetResult((1006, null));
            _inbox.Writer.TryComplete();
        }
    }

    /// <summary>Reads one response's events; true when a close event ended it.</summary>
    private async Task<bool> ReadEventsAsync(HttpResponseMessage response)
    {
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(_stop.Token), Encoding.UTF8);
        var data = new StringBuilder();
        while (true)
        {
            if (!Polling && Volatile.Read(ref _paused) is { } paused)
            {
                await paused.Task.WaitAsync(_stop.Token);
            }

            var line = await reader.ReadLineAsync(_stop.Token);
            if (line is null)
            {
                return false;
            }

            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Append(line, 6, line.Length - 6);
                continue;
            }

            if (line.Length != 0 || data.Length == 0)
            {
                continue;
            }

            var text = data.ToString();
            data.Clear();
            lock (RawEvents)
            {
                RawEvents.Add(text);
            }

            var message = JsonDocument.Parse(text).RootElement.Clone();
            switch (message.GetProperty("type").GetString())
            {
                case "close":
                    _closed.TrySetResult((message.GetProperty("code").GetInt32(), message.TryGetProperty("reason", out var r) ? r.GetString() : null));
                    return true;
                case "welcome" when message.TryGetProperty("send", out var send):
                    SendCapability = send.GetString();
                    break;
                case "ping" when AutoPong:
                    var n = message.GetProperty("n").GetInt64();
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            await SendJsonAsync(new { type = "pong", n });
                        }
                        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or ObjectDisposedException)
                        {
                            // the connection is gone
                        }
                    });
                    break;
            }

            _inbox.Writer.TryWrite(message);
        }
    }

    /// <summary>Drops the connection (no close) and stops the loop.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        ResumeReading();
        if (_loop is not null)
        {
            await _loop;
        }

        _http.Dispose();
        _stop.Dispose();
    }
}
