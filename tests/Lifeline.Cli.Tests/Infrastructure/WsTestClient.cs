using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Lifeline.Cli.Tests.Infrastructure;

/// <summary>
/// A minimal Lifeline peer on ClientWebSocket: sends hello, then one receive loop answers pings (as a live client
/// must, or a short heartbeat timeout closes it with 4000), queues every other message, and completes the close
/// handshake when the server closes.
/// </summary>
public sealed class WsTestClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly Channel<JsonElement> _messages = Channel.CreateUnbounded<JsonElement>();
    private readonly TaskCompletionSource<(WebSocketCloseStatus? Status, string? Reason)> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Completes with the server's close status and reason once its close frame arrives.</summary>
    public Task<(WebSocketCloseStatus? Status, string? Reason)> Closed => _closed.Task;

    /// <summary>Connects, sends hello with <paramref name="token"/>, and returns the welcome.</summary>
    public static Task<(WsTestClient Client, JsonElement Welcome)> ConnectAsync(Uri uri, string? token) => ConnectAsync(uri, token, resume: null);

    /// <summary>Connects, sends hello with <paramref name="token"/> and <paramref name="resume"/> (a session token), and returns the welcome.</summary>
    public static async Task<(WsTestClient Client, JsonElement Welcome)> ConnectAsync(Uri uri, string? token, string? resume = null)
    {
        var client = new WsTestClient();
        client._socket.Options.KeepAliveInterval = TimeSpan.Zero;
        using var cts = new CancellationTokenSource(Timeout);
        await client._socket.ConnectAsync(uri, cts.Token);
        var hello = resume is null
            ? JsonSerializer.Serialize(new { type = "hello", v = 1, token, client = "lifeline-cli-tests/1" })
            : JsonSerializer.Serialize(new { type = "hello", v = 1, token, resume, client = "lifeline-cli-tests/1" });
        await client._socket.SendAsync(Encoding.UTF8.GetBytes(hello), WebSocketMessageType.Text, true, cts.Token);
        client._loop = Task.Run(client.ReceiveLoopAsync);
        var welcome = await client.ReceiveTypeAsync("welcome");
        return (client, welcome);
    }

    /// <summary>Sends one message (serialized as JSON).</summary>
    public async Task SendJsonAsync(object message)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await _socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(message), WebSocketMessageType.Text, true, cts.Token);
    }

    /// <summary>Starts the close handshake with <paramref name="status"/>; <see cref="Closed"/> completes with the server's answer.</summary>
    public async Task CloseAsync(WebSocketCloseStatus status)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await _socket.CloseOutputAsync(status, null, cts.Token);
    }

    /// <summary>Sends one text message (a JSON line).</summary>
    public Task SendAsync(string json) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, _stop.Token);

    /// <summary>The next message that matches <paramref name="match"/> (others are dropped).</summary>
    public async Task<JsonElement> ReceiveAnyAsync(Func<JsonElement, bool> match)
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (true)
        {
            var message = await _messages.Reader.ReadAsync(cts.Token);
            if (match(message))
            {
                return message;
            }
        }
    }

    public async Task<JsonElement> ReceiveTypeAsync(string type)
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (true)
        {
            var message = await _messages.Reader.ReadAsync(cts.Token);
            if (message.GetProperty("type").GetString() == type)
            {
                return message;
            }
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        using var frame = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var result = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    _closed.TrySetResult((_socket.CloseStatus, _socket.CloseStatusDescription));
                    if (_socket.State == WebSocketState.CloseReceived)
                    {
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, _stop.Token);
                    }

                    return;
                }

                frame.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }

                var text = Encoding.UTF8.GetString(frame.GetBuffer(), 0, (int)frame.Length);
                frame.SetLength(0);
                foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    var message = JsonDocument.Parse(line).RootElement.Clone();
                    if (message.GetProperty("type").GetString() == "ping")
                    {
                        var pong = Encoding.UTF8.GetBytes($"{{\"type\":\"pong\",\"n\":{message.GetProperty("n").GetInt64()}}}");
                        await _socket.SendAsync(pong, WebSocketMessageType.Text, true, _stop.Token);
                    }

                    _messages.Writer.TryWrite(message);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            _closed.TrySetException(new InvalidOperationException($"the connection ended without a close frame (state {_socket.State})", ex));
        }
        finally
        {
            _messages.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _socket.Abort();
        if (_loop is not null)
        {
            await _loop;
        }

        _socket.Dispose();
        _stop.Dispose();
    }
}
