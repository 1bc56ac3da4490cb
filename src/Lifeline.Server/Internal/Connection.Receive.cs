using System.Buffers;
using System.Net.WebSockets;
using Lifeline.Protocol;

namespace Lifeline.Server.Internal;

/// <summary>
/// The receive loop: the only reader of the socket for the connection's whole life. It never awaits teardown, so
/// after the server starts a close it keeps reading (and discarding data) until the peer's close frame arrives or
/// the socket fails, which is what lets teardown complete the close handshake.
/// </summary>
internal sealed partial class Connection
{
    private const int InitialReceiveBuffer = 4096;

    private enum FrameKind
    {
        Text,
        Binary,
        TooBig,
        Close,
    }

    private async Task ReceiveLoopAsync()
    {
        Exception? failure = null;
        try
        {
            while (true)
            {
                var (kind, buffer, count) = await ReceiveMessageAsync();
                try
                {
                    if (kind == FrameKind.Close)
                    {
                        var status = _socket.CloseStatus is { } s ? (int)s : CloseCode.Abnormal.Code;
                        var code = CloseCode.FromCode(status);
                        var reason = string.IsNullOrEmpty(_socket.CloseStatusDescription) ? code.Reason : _socket.CloseStatusDescription;
                        _closeReceived.TrySetResult();
                        StartTeardown(code.WithReason(reason), DisconnectInitiator.Client);
                        return;
                    }

                    if (State >= ConnectionState.Closing)
                    {
                        continue; // closing: discard data until the peer's close frame
                    }

                    switch (kind)
                    {
                        case FrameKind.Binary:
                            Log.BadInput(_runtime.Logger, Now(), Id, RemoteEndPoint, CloseCode.UnsupportedData.Code, "binary frame");
                            StartTeardown(CloseCode.UnsupportedData, DisconnectInitiator.Server);
                            break;
                        case FrameKind.TooBig:
                            Log.BadInput(_runtime.Logger, Now(), Id, RemoteEndPoint, CloseCode.MessageTooBig.Code, $"message over {_runtime.Options.MaxMessageSize} bytes");
                            StartTeardown(CloseCode.MessageTooBig, DisconnectInitiator.Server);
                            break;
                        default:
                            try
                            {
                                await HandleFrameAsync(buffer.AsMemory(0, count));
                            }
                            catch (Exception ex) when (ex is not (OperationCanceledException or WebSocketException or IOException or ObjectDisposedException))
                            {
                                // A bug must not leave the connection half torn down: close 1011 through the one teardown path.
                                Log.HandlerFailed(_runtime.Logger, ex, Id);
                                StartTeardown(CloseCode.InternalError, DisconnectInitiator.Server, ex);
                            }

                            break;
                    }
                }
                finally
                {
                    if (buffer.Length > 0)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }
                }
            }
        }
        catch (WebSocketException ex) when (ex.WebSocketErrorCode == WebSocketError.Faulted && ex.InnerException is null)
        {
            // The WebSocket layer itself refused the peer's input (invalid UTF-8 in a text frame, a malformed frame):
            // it has already sent its close frame (1007/1002). Close the TCP connection gracefully so the frame is
            // delivered, instead of resetting it.
            _closeReceived.TrySetResult();
            _gracefulAfterFault = true;
            Log.BadInput(_runtime.Logger, Now(), Id, RemoteEndPoint, CloseCode.InvalidPayload.Code, "rejected by the WebSocket layer");
            StartTeardown(CloseCode.InvalidPayload, DisconnectInitiator.Server, ex);
            return;
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            failure = ex;
        }
        finally
        {
            _closeReceived.TrySetResult();
        }

        // The socket ended without a close frame (reset, end of stream, or our own abort).
        StartTeardown(CloseCode.Abnormal, DisconnectInitiator.Network, failure);
    }

    /// <summary>
    /// Reads one whole message. Idle connections hold no buffer: a zero-byte read waits for data, then a pooled
    /// buffer is rented for the message only. Oversized and binary messages are reported without being buffered.
    /// </summary>
    private async ValueTask<(FrameKind Kind, byte[] Buffer, int Count)> ReceiveMessageAsync()
    {
        var peek = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
        if (peek.MessageType == WebSocketMessageType.Close)
        {
            return (FrameKind.Close, [], 0);
        }

        if (peek.EndOfMessage)
        {
            // An empty message: the zero-byte read consumed it whole. Reading on would merge it into the next one.
            return (peek.MessageType == WebSocketMessageType.Binary ? FrameKind.Binary : FrameKind.Text, [], 0);
        }

        var max = _runtime.Options.MaxMessageSize;
        var buffer = ArrayPool<byte>.Shared.Rent(InitialReceiveBuffer);
        var count = 0;
        try
        {
            while (true)
            {
                if (count == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, max + 1));
                    buffer.AsSpan(0, count).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var result = await _socket.ReceiveAsync(buffer.AsMemory(count), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return (FrameKind.Close, [], 0);
                }

                count += result.Count;
                if (result.MessageType == WebSocketMessageType.Binary || count > max)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return (result.MessageType == WebSocketMessageType.Binary ? FrameKind.Binary : FrameKind.TooBig, [], 0);
                }

                if (result.EndOfMessage)
                {
                    return (FrameKind.Text, buffer, count);
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }
}
