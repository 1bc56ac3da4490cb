using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Lifeline.Server.Tests.Infrastructure;

/// <summary>
/// A bare protocol peer on ClientWebSocket for server tests: it sends exactly what a test says and reports exactly
/// what arrives (each NDJSON line of each frame), so bad input and silence can be scripted.
/// </summary>
public sealed class RawClient : IAsyncDisposable
{
    private readonly Queue<JsonElement> _pending = new();

    private RawClient(ClientWebSocket socket) => Socket = socket;

    public ClientWebSocket Socket { get; }

    /// <summary>When true, server pings are answered (from the receive path, as a real client does).</summary>
    public bool AutoPong { get; set; }

    public WebSocketCloseStatus? CloseStatus => Socket.CloseStatus;

    public string? CloseDescription => Socket.CloseStatusDescription;

    public static async Task<RawClient> ConnectAsync(Uri uri, Action<ClientWebSocketOptions>? configure = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        await socket.ConnectAsync(uri, cts.Token);
        return new RawClient(socket);
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

    /// <summary>Connects and completes the hello; returns the welcome.</summary>
    public static async Task<(RawClient Client, JsonElement Welcome)> ConnectAndHelloAsync(Uri uri, string? token = null)
    {
        var client = await ConnectAsync(uri);
        var welcome = await client.HelloAsync(token);
        return (client, welcome);
    }

    public async Task<JsonElement> HelloAsync(string? token = null, string? resume = null)
    {
        await SendJsonAsync(new { type = "hello", v = 1, token, resume, client = "test/1" });
        return await ReceiveTypeAsync("welcome");
    }

    public Task SendJsonAsync(object message) => SendTextAsync(JsonSerializer.Serialize(message));

    public Task SendTextAsync(string text) => SendBytesAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    public async Task SendBytesAsync(byte[] bytes, WebSocketMessageType type)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        await Socket.SendAsync(bytes, type, true, cts.Token);
    }

    /// <summary>Receives the next message (one NDJSON line); null when the socket closed.</summary>
    public async Task<JsonElement?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        while (_pending.Count == 0)
        {
            var frame = await ReceiveFrameAsync(cts.Token);
            if (frame is null)
            {
                return null;
            }

            foreach (var line in frame.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var message = JsonDocument.Parse(line).RootElement.Clone();
                if (AutoPong && message.GetProperty("type").GetString() == "ping")
                {
                    await SendJsonAsync(new { type = "pong", n = message.GetProperty("n").GetInt64() });
                }

                _pending.Enqueue(message);
            }
        }

        return _pending.Dequeue();
    }

    /// <summary>Receives until a message of <paramref name="type"/> arrives (others are skipped).</summary>
    public async Task<JsonElement> ReceiveTypeAsync(string type, TimeSpan? timeout = null)
    {
        while (true)
        {
            var message = await ReceiveAsync(timeout) ?? throw new InvalidOperationException($"socket closed ({CloseStatus} {CloseDescription}) while waiting for {type}");
            if (message.GetProperty("type").GetString() == type)
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
        var buffer = new byte[64 * 1024];
        using var ms = new MemoryStream();
        while (true)
        {
            var result = await Socket.ReceiveAsync(buffer, ct);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                if (Socket.State == WebSocketState.CloseReceived)
                {
                    await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, ct);
                }

                return null;
            }

            ms.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(ms.ToArray());
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Socket.Abort();
        Socket.Dispose();
        await Task.CompletedTask;
    }
}
