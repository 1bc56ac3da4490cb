using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Lifeline.Testing;

/// <summary>
/// A bare protocol peer on <see cref="ClientWebSocket"/>: it sends exactly what a test says (JSON or raw text and bytes)
/// and reports exactly what arrives, one message per NDJSON line of each frame, so bad input and silence can be scripted.
/// By default it reads only when the test receives (a test can leave the server's messages unread); with
/// <c>receiveInBackground</c> one loop reads all the time and answers every ping, as a live client must (a short heartbeat
/// would otherwise close it with 4000). Either way the server's close frame is answered and reported in <see cref="Closed"/>.
/// </summary>
public sealed class RawClient : IAsyncDisposable
{
    private readonly Queue<JsonElement> _pending = new();
    private readonly Channel<JsonElement>? _inbox;
    private readonly TaskCompletionSource<(WebSocketCloseStatus? Status, string? Reason)> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task? _loop;

    private RawClient(ClientWebSocket socket, bool receiveInBackground)
    {
        Socket = socket;
        if (receiveInBackground)
        {
            AutoPong = true;
            _inbox = Channel.CreateUnbounded<JsonElement>();
            _loop = Task.Run(ReceiveLoopAsync);
        }
    }

    /// <summary>The socket.</summary>
    public ClientWebSocket Socket { get; }

    /// <summary>When true, server pings are answered from the receive path (always, in background mode).</summary>
    public bool AutoPong { get; set; }

    /// <summary>The server's close status, once its close frame arrived.</summary>
    public WebSocketCloseStatus? CloseStatus => Socket.CloseStatus;

    /// <summary>The server's close reason, once its close frame arrived.</summary>
    public string? CloseDescription => Socket.CloseStatusDescription;

    /// <summary>
    /// Completes with the server's close status and reason once its close frame was read; fails when the connection
    /// ended without one (in background mode).
    /// </summary>
    public Task<(WebSocketCloseStatus? Status, string? Reason)> Closed => _closed.Task;

    /// <summary>Opens a connection (no hello).</summary>
    public static async Task<RawClient> ConnectAsync(Uri uri, Action<ClientWebSocketOptions>? configure = null, bool receiveInBackground = false)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        await socket.ConnectAsync(uri, cts.Token);
        return new RawClient(socket, receiveInBackground);
    }

    /// <summary>Tries an upgrade; returns the HTTP status of the answer (101 when it was accepted; the socket is then closed).</summary>
    public static async Task<int> TryUpgradeAsync(Uri uri, Action<ClientWebSocketOptions>? configure = null)
    {
        using var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        try
        {
            await socket.ConnectAsync(uri, cts.Token);
        }
        catch (WebSocketException)
        {
            return (int)socket.HttpStatusCode;
        }

        socket.Abort();
        return (int)socket.HttpStatusCode;
    }

    /// <summary>Connects and completes the hello (with <paramref name="token"/> and <paramref name="resume"/>); returns the welcome.</summary>
    public static async Task<(RawClient Client, JsonElement Welcome)> ConnectAndHelloAsync(Uri uri, string? token = null, string? resume = null, bool receiveInBackground = false)
    {
        var client = await ConnectAsync(uri, receiveInBackground: receiveInBackground);
        try
        {
            var welcome = await client.HelloAsync(token, resume);
            return (client, welcome);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A live client: connects in background mode (every ping answered, the close handshake completed), sends hello with
    /// <paramref name="token"/> and <paramref name="resume"/>, and returns the welcome.
    /// </summary>
    public static Task<(RawClient Client, JsonElement Welcome)> ConnectLiveAsync(Uri uri, string? token, string? resume = null) =>
        ConnectAndHelloAsync(uri, token, resume, receiveInBackground: true);

    /// <summary>Sends hello; returns the welcome.</summary>
    public async Task<JsonElement> HelloAsync(string? token = null, string? resume = null)
    {
        await SendJsonAsync(new { type = "hello", v = 1, token, resume, client = "test/1" });
        return await ReceiveTypeAsync("welcome");
    }

    /// <summary>Sends one message, serialized as JSON.</summary>
    public Task SendJsonAsync(object message) => SendTextAsync(JsonSerializer.Serialize(message));

    /// <summary>Sends one text message.</summary>
    public Task SendTextAsync(string text) => SendBytesAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    /// <summary>Sends one message of <paramref name="type"/>.</summary>
    public async Task SendBytesAsync(byte[] bytes, WebSocketMessageType type)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        await Socket.SendAsync(bytes, type, true, cts.Token);
    }

    /// <summary>Starts the close handshake with <paramref name="status"/>; <see cref="Closed"/> completes with the server's answer.</summary>
    public async Task CloseAsync(WebSocketCloseStatus status, string? reason = null)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        await Socket.CloseOutputAsync(status, reason, cts.Token);
    }

    /// <summary>Receives the next message (one NDJSON line); null when the socket closed.</summary>
    public async Task<JsonElement?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        if (_inbox is not null)
        {
            return await _inbox.Reader.WaitToReadAsync(cts.Token) && _inbox.Reader.TryRead(out var next) ? next : null;
        }

        while (_pending.Count == 0)
        {
            var frame = await ReceiveFrameAsync(cts.Token);
            if (frame is null)
            {
                return null;
            }

            foreach (var message in await ParseAsync(frame, cts.Token))
            {
                _pending.Enqueue(message);
            }
        }

        return _pending.Dequeue();
    }

    /// <summary>Receives until a message of <paramref name="type"/> arrives (others are skipped).</summary>
    public Task<JsonElement> ReceiveTypeAsync(string type, TimeSpan? timeout = null) =>
        ReceiveAnyAsync(m => m.GetProperty("type").GetString() == type, timeout, type);

    /// <summary>Receives until a message matching <paramref name="match"/> arrives (others are skipped).</summary>
    public async Task<JsonElement> ReceiveAnyAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null, string? what = null)
    {
        while (true)
        {
            var message = await ReceiveAsync(timeout) ?? throw new InvalidOperationException($"socket closed ({CloseStatus} {CloseDescription}) while waiting for {what ?? "a matching message"}");
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
            received.Add(await ReceiveAsync(timeout) ?? throw new InvalidOperationException($"socket closed ({CloseStatus} {CloseDescription})"));
        }

        return received;
    }

    /// <summary>Reads (and discards) until the server's close frame; returns its status.</summary>
    public async Task<WebSocketCloseStatus?> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        if (_inbox is not null)
        {
            try
            {
                return (await Closed.WaitAsync(timeout ?? TestTimeouts.Default)).Status;
            }
            catch (InvalidOperationException)
            {
                return Socket.CloseStatus;
            }
        }

        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        try
        {
            while (await ReceiveFrameAsync(cts.Token) is not null)
            {
            }
        }
        catch (WebSocketException)
        {
            // reset by the server after the close frame is acceptable only if a close status was seen
        }

        return Socket.CloseStatus;
    }

    /// <summary>Reads one whole frame's text; null when a close frame arrived (the close is then answered).</summary>
    public async Task<string?> ReceiveFrameAsync(CancellationToken ct)
    {
        if (_inbox is not null)
        {
            throw new InvalidOperationException("frames are read by the background loop");
        }

        return await ReadFrameAsync(ct);
    }

    /// <summary>Aborts the socket (and stops the background loop).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        Socket.Abort();
        if (_loop is not null)
        {
            await _loop;
        }

        Socket.Dispose();
        _stop.Dispose();
    }

    private async Task<string?> ReadFrameAsync(CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        using var ms = new MemoryStream();
        while (true)
        {
            var result = await Socket.ReceiveAsync(buffer, ct);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                _closed.TrySetResult((Socket.CloseStatus, Socket.CloseStatusDescription));
                if (Socket.State == WebSocketState.CloseReceived)
                {
                    await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, ct);
                }

                return null;
            }

            ms.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(ms.GetBuffer(), 0, (int)ms.Length);
            }
        }
    }

    private async Task<List<JsonElement>> ParseAsync(string frame, CancellationToken ct)
    {
        var messages = new List<JsonElement>();
        foreach (var line in frame.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var message = JsonDocument.Parse(line).RootElement.Clone();
            if (AutoPong && message.GetProperty("type").GetString() == "ping")
            {
                var pong = Encoding.UTF8.GetBytes($"{{\"type\":\"pong\",\"n\":{message.GetProperty("n").GetInt64()}}}");
                await Socket.SendAsync(pong, WebSocketMessageType.Text, true, ct);
            }

            messages.Add(message);
        }

        return messages;
    }

    private async Task ReceiveLoopAsync()
    {
        try
        {
            while (await ReadFrameAsync(_stop.Token) is { } frame)
            {
                foreach (var message in await ParseAsync(frame, _stop.Token))
                {
                    _inbox!.Writer.TryWrite(message);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            _closed.TrySetException(new InvalidOperationException($"the connection ended without a close frame (state {Socket.State})", ex));
        }
        finally
        {
            _inbox!.Writer.TryComplete();
        }
    }
}
