using System.Net;
using System.Text;
using System.Text.Json;
using Lifeline.Bench.Net;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

/// <summary>One connection of a <see cref="StormClient"/>: its protocol steps and its end.</summary>
internal sealed class StormConnection : IFrameHandler
{
    private readonly StormClient _client;
    private readonly ServerKind _kind;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource<bool>? _step;
    private RawWebSocket? _socket;

    public StormConnection(StormClient client, ServerKind kind)
    {
        _client = client;
        _kind = kind == ServerKind.LifelineLean ? ServerKind.Lifeline : kind; // the same protocol and path
    }

    public Task Closed => _closed.Task;

    /// <summary>The <c>retry_after_ms</c> of a 1001 close; -1 when none.</summary>
    public int RetryAfterMs { get; private set; } = -1;

    public async Task OpenAsync(IPEndPoint server, IPAddress local, CancellationToken cancellationToken)
    {
        var path = _kind switch { ServerKind.Lifeline => "/ws", ServerKind.SignalR => "/hub", _ => "/" };
        var step = NewStep();
        _socket = await RawWebSocket.ConnectAsync(server, local, path, this, cancellationToken);
        var open = _kind switch
        {
            ServerKind.Lifeline => _client.Session is { } s ? $$"""{"type":"hello","v":1,"client":"lifeline-bench","resume":"{{s}}"}""" : """{"type":"hello","v":1,"client":"lifeline-bench"}""",
            ServerKind.SignalR => "{\"protocol\":\"json\",\"version\":1}\u001e",
            _ => null,
        };
        if (open is not null && (!_socket.SendText(Encoding.UTF8.GetBytes(open)) || !await step.WaitAsync(cancellationToken)))
        {
            throw new IOException("handshake failed");
        }
    }

    public async Task<bool> ResyncAsync(CancellationToken cancellationToken)
    {
        var step = NewStep();
        var channel = _client.Channel;
        var message = _kind switch
        {
            ServerKind.Lifeline when _client.Epoch is { } epoch =>
                $$$"""{"type":"subscribe","id":1,"channel":"{{{channel}}}","since":{"epoch":"{{{epoch}}}","offset":{{{_client.Offset}}}}}""",
            ServerKind.Lifeline => $$"""{"type":"subscribe","id":1,"channel":"{{channel}}"}""",
            ServerKind.SignalR => $$"""{"type":1,"invocationId":"1","target":"Subscribe","arguments":["{{channel}}"]}""" + "\u001e",
            _ => $$"""{"type":"subscribe","id":1,"channel":"{{channel}}"}""",
        };
        return _socket!.SendText(Encoding.UTF8.GetBytes(message)) && await step.WaitAsync(cancellationToken);
    }

    public void Abort() => _socket?.Abort();

    void IFrameHandler.OnText(RawWebSocket socket, ReadOnlySpan<byte> payload)
    {
        var separator = _kind switch { ServerKind.Lifeline => "\n", ServerKind.SignalR => "\u001e", _ => null };
        var text = Encoding.UTF8.GetString(payload);
        foreach (var message in separator is null ? [text] : text.Split(separator, StringSplitOptions.RemoveEmptyEntries))
        {
            OnMessage(socket, message);
        }
    }

    void IFrameHandler.OnClosed(RawWebSocket socket)
    {
        if (socket.CloseStatus == 1001 && socket.CloseReason.Contains("retry_after_ms=", StringComparison.Ordinal))
        {
            var digits = new string(socket.CloseReason[(socket.CloseReason.IndexOf("retry_after_ms=", StringComparison.Ordinal) + 15)..].TakeWhile(char.IsAsciiDigit).ToArray());
            RetryAfterMs = int.TryParse(digits, System.Globalization.CultureInfo.InvariantCulture, out var ms) ? ms : -1;
        }

        Interlocked.Exchange(ref _step, null)?.TrySetResult(false);
        _closed.TrySetResult();
    }

    private void OnMessage(RawWebSocket socket, string message)
    {
        try
        {
            using var json = JsonDocument.Parse(message);
            OnMessage(socket, json.RootElement);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            // not a message this client needs (or malformed): ignored
        }
    }

    private void OnMessage(RawWebSocket socket, JsonElement root)
    {
        switch (_kind)
        {
            case ServerKind.Lifeline:
                OnLifeline(socket, root);
                break;
            case ServerKind.SignalR:
                var type = root.TryGetProperty("type", out var t) ? t.GetInt32() : -1;
                if (type == 6)
                {
                    socket.SendText("{\"type\":6}\u001e"u8);
                }
                else if (type is -1 or 3)
                {
                    Complete(!root.TryGetProperty("error", out _)); // {} = handshake accepted; 3 = Subscribe completed
                }

                break;
            default:
                if (root.GetProperty("type").GetString() == "subscribed")
                {
                    Complete(true);
                }

                break;
        }
    }

    private void OnLifeline(RawWebSocket socket, JsonElement root)
    {
        switch (root.GetProperty("type").GetString())
        {
            case "ping":
                socket.SendText(Encoding.UTF8.GetBytes($$"""{"type":"pong","n":{{root.GetProperty("n").GetInt64()}}}"""));
                break;
            case "welcome":
                _client.Session = root.GetProperty("session").GetString();
                Complete(true);
                break;
            case "subscribed":
                var recovered = root.TryGetProperty("recovered", out var r) && r.GetBoolean() && root.GetProperty("epoch").GetString() == _client.Epoch;
                _client.Epoch = root.GetProperty("epoch").GetString();
                _client.Offset = root.GetProperty("offset").GetInt64();
                if (recovered)
                {
                    Complete(true);
                }

                break;
            case "snapshot":
                _client.Epoch = root.GetProperty("epoch").GetString();
                _client.Offset = root.GetProperty("offset").GetInt64();
                Complete(true);
                break;
            case "delta":
                _client.Offset = root.GetProperty("offset").GetInt64();
                break;
            case "error":
                Complete(false);
                break;
        }
    }

    private Task<bool> NewStep()
    {
        var step = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _step, step);
        return step.Task;
    }

    private void Complete(bool ok) => Interlocked.Exchange(ref _step, null)?.TrySetResult(ok);
}
