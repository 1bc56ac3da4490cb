using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Lifeline.Protocol;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Lifeline.Server.Transport;

/// <summary>
/// The transport over a WebSocket: one client message per text message, one frame of server messages per text
/// message, the close handshake bounded and then a TCP reset (SO_LINGER 0) so that a dead peer leaves nothing in
/// CLOSE_WAIT or FIN-WAIT. How the WebSocket came to be (and so how its TCP connection is reset or kept graceful) is
/// the subclass's: <see cref="MiddlewareWebSocketTransport"/> (the ASP.NET Core upgrade behind <c>MapLifeline</c>) and
/// <see cref="LeanWebSocketTransport"/> (the lean listener's own upgrade in Kestrel connection middleware). A peer that
/// ended the TCP stream itself (its FIN without a close frame: a process that died) gets a plain abort: the kernel
/// answers our FIN, nothing lingers, no reset is needed.
/// </summary>
internal abstract class WebSocketTransport : IConnectionTransport
{
    private const int InitialReceiveBuffer = 4096;

    private readonly WebSocket _socket;
    private readonly TimeProvider _time;

    // Completed when the peer's close frame arrived or the receive side ended: what CloseAsync waits for. Created on
    // first use (at the end of the connection): an idle connection does not hold it.
    private TaskCompletionSource? _closeReceived;

    // Set when the WebSocket layer refused the peer's input and already wrote its close frame: end with FIN, not reset.
    private volatile bool _gracefulAfterFault;

    // Set when the peer ended the TCP stream itself (its FIN, without a close frame): the socket cannot linger in
    // CLOSE_WAIT or FIN-WAIT for it (our FIN is answered by the peer's kernel), so the abort needs no SO_LINGER 0, which
    // on a socket Kestrel has already closed would only throw.
    private volatile bool _peerEnded;

    /// <param name="socket">The WebSocket.</param>
    /// <param name="time">The clock of the close handshake's bound.</param>
    protected WebSocketTransport(WebSocket socket, TimeProvider time)
    {
        _socket = socket;
        _time = time;
    }

    private TaskCompletionSource CloseReceived =>
        Volatile.Read(ref _closeReceived)
        ?? Interlocked.CompareExchange(ref _closeReceived, new(TaskCreationOptions.RunContinuationsAsynchronously), null)
        ?? _closeReceived;

    public abstract IPEndPoint? RemoteEndPoint { get; }

    public abstract HttpContext Request { get; }

    public string Name => TransportNames.WebSocket;

    public virtual WelcomeMessage Announce(WelcomeMessage welcome) => welcome;

    /// <summary>The features of the TCP connection (<see cref="IConnectionSocketFeature"/> for the reset).</summary>
    protected abstract IFeatureCollection ConnectionFeatures { get; }

    /// <summary>Aborts the TCP connection (with SO_LINGER 0 already set: a reset).</summary>
    protected abstract void AbortConnection();

    /// <summary>
    /// The WebSocket layer refused the peer's input and wrote its close frame: the TCP connection must end gracefully
    /// (flush, then FIN) once the connection is done, not with a reset that would race that frame.
    /// </summary>
    protected abstract void KeepGraceful();

    /// <summary>
    /// Reads one whole message. Idle connections hold no buffer: a zero-byte read waits for data, then a pooled
    /// buffer is rented for the message only. Oversized and binary messages are reported without being buffered.
    /// </summary>
    public async ValueTask<TransportMessage> ReceiveAsync(int maxMessageSize)
    {
        // One async method, not a wrapper around another: an idle connection is suspended in here, and each suspended
        // async level holds a state-machine box of its own (W1 measures every byte of it).
        byte[]? buffer = null;
        try
        {
            // The wait is the WebSocket's own zero-byte read, never one on the socket or pipe under it: the WebSocket
            // reads ahead into a buffer of its own (up to 125 bytes), so whole messages may already be waiting there.
            var peek = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
            if (peek.MessageType == WebSocketMessageType.Close)
            {
                return PeerClosed();
            }

            if (peek.EndOfMessage)
            {
                // An empty message: the zero-byte read consumed it whole. Reading on would merge it into the next one.
                return TransportMessage.Of(peek.MessageType == WebSocketMessageType.Binary ? TransportMessageKind.Binary : TransportMessageKind.Text);
            }

            buffer = ArrayPool<byte>.Shared.Rent(InitialReceiveBuffer);
            var count = 0;
            while (true)
            {
                if (count == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, maxMessageSize + 1));
                    buffer.AsSpan(0, count).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var result = await _socket.ReceiveAsync(buffer.AsMemory(count), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return PeerClosed();
                }

                count += result.Count;
                if (result.MessageType == WebSocketMessageType.Binary || count > maxMessageSize)
                {
                    return TransportMessage.Of(result.MessageType == WebSocketMessageType.Binary ? TransportMessageKind.Binary : TransportMessageKind.TooBig);
                }

                if (result.EndOfMessage)
                {
                    var message = new TransportMessage(TransportMessageKind.Text, buffer, count);
                    buffer = null; // the caller returns it
                    return message;
                }
            }
        }
        catch (WebSocketException ex) when (ex.WebSocketErrorCode == WebSocketError.Faulted && ex.InnerException is null)
        {
            // The WebSocket layer itself refused the peer's input (invalid UTF-8 in a text frame, a malformed frame):
            // it has already sent its close frame (1007/1002). The TCP connection then ends gracefully so the frame
            // is delivered, instead of being reset.
            _gracefulAfterFault = true;
            CloseReceived.TrySetResult();
            return TransportMessage.Of(TransportMessageKind.Rejected, ex);
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            _peerEnded = ex is WebSocketException { WebSocketErrorCode: WebSocketError.ConnectionClosedPrematurely };
            CloseReceived.TrySetResult();
            return TransportMessage.Of(TransportMessageKind.Ended, ex);
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private TransportMessage PeerClosed()
    {
        var status = _socket.CloseStatus is { } s ? (int)s : CloseCode.Abnormal.Code;
        var code = CloseCode.FromCode(status);
        var reason = string.IsNullOrEmpty(_socket.CloseStatusDescription) ? code.Reason : _socket.CloseStatusDescription;
        CloseReceived.TrySetResult();
        return TransportMessage.Of(TransportMessageKind.Close, code.WithReason(reason));
    }

    // Not cancellable on purpose: cancelling a WebSocket send aborts the socket. A send blocked by a peer that stopped
    // reading is ended by teardown, which aborts the socket when its close cannot go out.
    public ValueTask SendAsync(ReadOnlyMemory<byte> frame) =>
        _socket.SendAsync(frame, WebSocketMessageType.Text, true, CancellationToken.None);

    public async Task<bool> CloseAsync(CloseCode code, TimeSpan bound)
    {
        var clean = false;
        if (code.Code != CloseCode.Abnormal.Code && _socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var timeout = new CancellationTokenSource(bound, _time);
            try
            {
                await _socket.CloseOutputAsync((WebSocketCloseStatus)code.Code, Truncate(code.Reason), timeout.Token);
                await CloseReceived.Task.WaitAsync(timeout.Token);
                clean = _socket.State == WebSocketState.Closed;
            }
            catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // the close frame could not go out, or no answer within the bound: the peer is presumed dead
            }
        }

        var reset = false;
        if (_gracefulAfterFault)
        {
            KeepGraceful();
        }
        else if (!clean)
        {
            if (!_peerEnded)
            {
                LingerZero();
            }

            _socket.Abort();
            AbortConnection();
            reset = !_peerEnded;
        }

        _socket.Dispose();
        return reset;
    }

    /// <summary>
    /// Aborts the TCP connection with a reset (SO_LINGER 0): nothing lingers in FIN-WAIT or CLOSE_WAIT for a peer that
    /// is gone, and a send blocked on a full TCP window fails at once.
    /// </summary>
    public void Abort()
    {
        LingerZero();
        AbortConnection();
    }

    private void LingerZero()
    {
        try
        {
            if (ConnectionFeatures.Get<IConnectionSocketFeature>()?.Socket is { } socket)
            {
                socket.LingerState = new LingerOption(true, 0);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // already gone
        }
    }

    /// <summary>A close reason is at most 123 UTF-8 bytes (RFC 6455 5.5.1).</summary>
    private static string Truncate(string reason) =>
        System.Text.Encoding.UTF8.GetByteCount(reason) <= 123 ? reason : reason[..Math.Min(reason.Length, 40)];
}
