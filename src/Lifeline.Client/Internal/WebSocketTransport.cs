using System.Buffers;
using System.Net.WebSockets;

namespace Lifeline.Client.Internal;

/// <summary>The WebSocket under a connection: a <see cref="ClientWebSocket"/>, one text frame per message.</summary>
internal sealed class WebSocketTransport : IClientTransport
{
    private const int ReceiveChunkSize = 16 * 1024;
    private readonly Uri _url;
    private bool _opened;

    public WebSocketTransport(Uri url, Action<ClientWebSocketOptions>? configure)
    {
        _url = url;
        Socket = new ClientWebSocket();

        // The status of a refused upgrade tells "the endpoint answers but the upgrade does not get through" (fall back
        // to HTTP) from "nothing answers" (the server is down: retry after the backoff).
        Socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(Socket.Options);
    }

    public ClientWebSocket Socket { get; }

    public LifelineTransport Kind => LifelineTransport.WebSocket;

    public bool Opened => _opened;

    /// <summary>
    /// The upgrade was answered with an HTTP status other than 101: the endpoint answers but the upgrade does not get
    /// through. 503 and 429 are not counted: they are the server asking to wait (draining, too many handshakes), which
    /// the HTTP endpoint would answer the same way.
    /// </summary>
    public bool UpgradeRefused => !_opened && (int)Socket.HttpStatusCode is not (0 or 101 or 503 or 429);

    public bool IsOpen => Socket.State == WebSocketState.Open;

    public bool AwaitsCloseEcho => Socket.State == WebSocketState.CloseReceived;

    public int? CloseStatus => (int?)Socket.CloseStatus;

    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        await Socket.ConnectAsync(_url, cancellationToken).ConfigureAwait(false);
        _opened = true;
    }

    public async ValueTask<TransportReceiveResult> ReceiveAsync(IBufferWriter<byte> buffer, Action onData, CancellationToken cancellationToken)
    {
        ValueWebSocketReceiveResult result;
        do
        {
            result = await Socket.ReceiveAsync(buffer.GetMemory(ReceiveChunkSize), cancellationToken).ConfigureAwait(false);
            onData();
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return new TransportReceiveResult(TransportReceiveKind.Close, (int?)Socket.CloseStatus, Socket.CloseStatusDescription);
            }

            buffer.Advance(result.Count);
        }
        while (!result.EndOfMessage);

        return new TransportReceiveResult(result.MessageType == WebSocketMessageType.Binary ? TransportReceiveKind.Binary : TransportReceiveKind.Text);
    }

    public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        Socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);

    public Task CloseOutputAsync(int code, string? reason, CancellationToken cancellationToken) =>
        Socket.CloseOutputAsync((WebSocketCloseStatus)code, reason, cancellationToken);

    public void Abort() => Socket.Abort();

    public void Dispose() => Socket.Dispose();
}
