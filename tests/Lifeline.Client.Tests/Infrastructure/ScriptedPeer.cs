using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Lifeline.Protocol;
using Microsoft.AspNetCore.Http;

namespace Lifeline.Client.Tests.Infrastructure;

/// <summary>The server side of one accepted socket, played by the test.</summary>
internal sealed class ScriptedPeer
{
    private readonly HttpContext _context;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _sendLock = new(1, 1);

    public ScriptedPeer(WebSocket socket, HttpContext context)
    {
        Socket = socket;
        _context = context;
    }

    public WebSocket Socket { get; }

    public Task Done => _done.Task;

    /// <summary>The close status the client sent, once a close frame was received.</summary>
    public WebSocketCloseStatus? ClientCloseStatus { get; private set; }

    /// <summary>Receives the next client message (one JSON object per frame). Throws <see cref="PeerClosedException"/> on close.</summary>
    public async Task<JsonElement> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        var buffer = new byte[64 * 1024];
        var total = 0;
        while (true)
        {
            var result = await Socket.ReceiveAsync(buffer.AsMemory(total), cts.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                ClientCloseStatus = Socket.CloseStatus;
                throw new PeerClosedException(Socket.CloseStatus);
            }

            total += result.Count;
            if (result.EndOfMessage)
            {
                using var doc = JsonDocument.Parse(buffer.AsMemory(0, total));
                return doc.RootElement.Clone();
            }
        }
    }

    /// <summary>Receives messages until one of <paramref name="type"/> arrives; pongs in between are skipped.</summary>
    public async Task<JsonElement> ExpectAsync(string type, TimeSpan? timeout = null)
    {
        while (true)
        {
            var message = await ReceiveAsync(timeout);
            var actual = message.GetProperty("type").GetString();
            if (actual == type)
            {
                return message;
            }

            if (actual != "pong")
            {
                throw new InvalidOperationException($"expected {type}, received {message.GetRawText()}");
            }
        }
    }

    /// <summary>Receives <c>hello</c>, answers <c>welcome</c>, and returns the hello.</summary>
    public async Task<JsonElement> HandshakeAsync(string session = "s1", long intervalMs = 30_000, long timeoutMs = 5_000, bool resumed = false, string? user = "u1", string connection = "c1", long? tokenExpiresInMs = null)
    {
        var hello = await ExpectAsync("hello");
        await SendAsync(new WelcomeMessage(session, connection, user, resumed, new HeartbeatInfo(intervalMs, timeoutMs), 120_000) { TokenExpiresInMs = tokenExpiresInMs });
        return hello;
    }

    public Task SendAsync(ServerMessage message) => SendRawAsync(Encoding.UTF8.GetString(ProtocolSerializer.Serialize(message)));

    /// <summary>Sends several messages packed into one frame, separated by line feeds.</summary>
    public Task SendPackedAsync(params ServerMessage[] messages) =>
        SendRawAsync(string.Join('\n', messages.Select(m => Encoding.UTF8.GetString(ProtocolSerializer.Serialize(m)))));

    public async Task SendRawAsync(string text)
    {
        await _sendLock.WaitAsync();
        try
        {
            await Socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    public async Task SendBinaryAsync(byte[] data)
    {
        await _sendLock.WaitAsync();
        try
        {
            await Socket.SendAsync(data, WebSocketMessageType.Binary, true, CancellationToken.None);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Sends a close frame, waits (bounded) for the client's answer, and releases the request.</summary>
    public async Task CloseAsync(int code, string? reason = null)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        try
        {
            await Socket.CloseOutputAsync((WebSocketCloseStatus)code, reason, cts.Token);
            await DrainUntilCloseAsync(cts.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }
        finally
        {
            _done.TrySetResult();
        }
    }

    /// <summary>Reads (and drops) messages until the client's close frame; returns its status.</summary>
    public async Task<WebSocketCloseStatus?> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        await DrainUntilCloseAsync(cts.Token);
        return ClientCloseStatus;
    }

    private async Task DrainUntilCloseAsync(CancellationToken token)
    {
        var buffer = new byte[16 * 1024];
        while (Socket.State is WebSocketState.Open or WebSocketState.CloseSent)
        {
            var result = await Socket.ReceiveAsync(buffer, token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                ClientCloseStatus = Socket.CloseStatus;
                if (Socket.State == WebSocketState.CloseReceived)
                {
                    await Socket.CloseOutputAsync(Socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, null, token);
                }

                return;
            }
        }
    }

    /// <summary>Drops the TCP connection without a close frame (the client sees 1006).</summary>
    public void Abort()
    {
        if (_done.Task.IsCompleted)
        {
            return;
        }

        try
        {
            _context.Abort();
        }
        catch (ObjectDisposedException)
        {
            // The request already ended.
        }

        _done.TrySetResult();
    }

    /// <summary>Releases the request without touching the socket (after the client closed it).</summary>
    public void Release() => _done.TrySetResult();
}

internal sealed class PeerClosedException(WebSocketCloseStatus? status) : Exception($"the client closed the socket ({status})")
{
    public WebSocketCloseStatus? Status { get; } = status;
}
