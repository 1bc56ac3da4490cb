using System.Net.WebSockets;
using System.Text.Json;

namespace Lifeline.Testing;

/// <summary>The transports a <see cref="RawPeer"/> can use (the server's metrics label, too).</summary>
public enum PeerTransport
{
    /// <summary><see cref="RawClient"/>: the WebSocket.</summary>
    WebSocket,

    /// <summary><see cref="HttpRawClient"/> on the Server-Sent Events stream.</summary>
    HttpStream,

    /// <summary><see cref="HttpRawClient"/> with long polling.</summary>
    HttpPoll,
}

/// <summary>
/// One live protocol peer over any transport, for tests that must hold over all of them: a <see cref="RawClient"/> in
/// background mode or an <see cref="HttpRawClient"/>. Pings are answered while <see cref="AutoPong"/> is true.
/// </summary>
public abstract class RawPeer : IAsyncDisposable
{
    /// <summary>The transport.</summary>
    public abstract PeerTransport Transport { get; }

    /// <summary>When true, server pings are answered.</summary>
    public abstract bool AutoPong { get; set; }

    /// <summary>The server's metrics label of <see cref="Transport"/>.</summary>
    public string Label => LabelOf(Transport);

    /// <summary>The server's metrics label of <paramref name="transport"/>.</summary>
    public static string LabelOf(PeerTransport transport) => transport switch
    {
        PeerTransport.WebSocket => "websocket",
        PeerTransport.HttpStream => "http-stream",
        _ => "http-poll",
    };

    /// <summary>Connects over <paramref name="transport"/>, sends hello, returns the peer and its welcome.</summary>
    public static async Task<(RawPeer Peer, JsonElement Welcome)> ConnectLiveAsync(PeerTransport transport, Uri wsUri, string? token = null, string? resume = null)
    {
        if (transport == PeerTransport.WebSocket)
        {
            var (client, welcome) = await RawClient.ConnectLiveAsync(wsUri, token, resume);
            return (new WebSocketPeer(client), welcome);
        }

        var (http, httpWelcome) = await HttpRawClient.ConnectLiveAsync(wsUri, token, resume, poll: transport == PeerTransport.HttpPoll);
        return (new HttpPeer(http), httpWelcome);
    }

    /// <summary>Sends one message serialized as JSON.</summary>
    public abstract Task SendJsonAsync(object message);

    /// <summary>The next server message; null once the connection ended.</summary>
    public abstract Task<JsonElement?> ReceiveAsync(TimeSpan? timeout = null);

    /// <summary>Closes with <paramref name="code"/> (a close frame, or a close message via send).</summary>
    public abstract Task CloseAsync(int code = 1000);

    /// <summary>Cuts the connection without a close, as a network failure would.</summary>
    public abstract void Drop();

    /// <summary>The server's close code and reason; 1006 (or null over a WebSocket) when none came.</summary>
    public abstract Task<(int? Code, string? Reason)> WaitForCloseAsync(TimeSpan? timeout = null);

    /// <summary>Receives until a message of <paramref name="type"/> arrives (others are skipped).</summary>
    public Task<JsonElement> ReceiveTypeAsync(string type, TimeSpan? timeout = null) =>
        ReceiveAnyAsync(m => m.GetProperty("type").GetString() == type, timeout, type);

    /// <summary>Receives until a message matching <paramref name="match"/> arrives (others are skipped).</summary>
    public async Task<JsonElement> ReceiveAnyAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null, string? what = null)
    {
        while (true)
        {
            var message = await ReceiveAsync(timeout) ?? throw new InvalidOperationException($"{Transport} connection ended while waiting for {what ?? "a matching message"}");
            if (match(message))
            {
                return message;
            }
        }
    }

    /// <inheritdoc />
    public abstract ValueTask DisposeAsync();

    private sealed class WebSocketPeer(RawClient client) : RawPeer
    {
        public override PeerTransport Transport => PeerTransport.WebSocket;

        public override bool AutoPong { get => client.AutoPong; set => client.AutoPong = value; }

        public override Task SendJsonAsync(object message) => client.SendJsonAsync(message);

        public override Task<JsonElement?> ReceiveAsync(TimeSpan? timeout = null) => client.ReceiveAsync(timeout);

        public override Task CloseAsync(int code = 1000) => client.CloseAsync((WebSocketCloseStatus)code);

        public override void Drop() => client.Socket.Abort();

        public override async Task<(int? Code, string? Reason)> WaitForCloseAsync(TimeSpan? timeout = null)
        {
            var status = await client.WaitForCloseAsync(timeout);
            return ((int?)status, client.CloseDescription);
        }

        public override ValueTask DisposeAsync() => client.DisposeAsync();
    }

    private sealed class HttpPeer(HttpRawClient client) : RawPeer
    {
        public override PeerTransport Transport => client.Polling ? PeerTransport.HttpPoll : PeerTransport.HttpStream;

        public override bool AutoPong { get => client.AutoPong; set => client.AutoPong = value; }

        public override async Task SendJsonAsync(object message)
        {
            var status = await client.SendJsonAsync(message);
            if (status != System.Net.HttpStatusCode.NoContent)
            {
                throw new InvalidOperationException($"send answered {(int)status}");
            }
        }

        public override Task<JsonElement?> ReceiveAsync(TimeSpan? timeout = null) => client.ReceiveAsync(timeout);

        public override Task CloseAsync(int code = 1000) => client.CloseAsync(code);

        public override void Drop() => client.Drop();

        public override async Task<(int? Code, string? Reason)> WaitForCloseAsync(TimeSpan? timeout = null)
        {
            var (code, reason) = await client.WaitForCloseAsync(timeout);
            return (code, reason);
        }

        public override ValueTask DisposeAsync() => client.DisposeAsync();
    }
}
