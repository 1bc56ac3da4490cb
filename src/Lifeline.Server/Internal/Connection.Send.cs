using System.Buffers;
using System.Net.WebSockets;
using Lifeline.Protocol;

namespace Lifeline.Server.Internal;

/// <summary>
/// The bounded send queue and its writer. Messages arrive already serialized (a message for many recipients is
/// serialized once and the same bytes are queued to each). The writer runs only while something is queued, so idle
/// connections hold no task; it packs whatever is queued into one frame (line-feed separated) up to
/// <see cref="LifelineOptions.MaxFrameSize"/>, so a busy connection costs one send per batch.
/// </summary>
internal sealed partial class Connection
{
    private readonly Lock _sendLock = new();
    private readonly Queue<ReadOnlyMemory<byte>> _sendQueue = new();
    private bool _writerRunning;
    private bool _sendClosed;

    /// <summary>Messages waiting to be written.</summary>
    public int SendQueueDepth
    {
        get
        {
            lock (_sendLock)
            {
                return _sendQueue.Count;
            }
        }
    }

    public bool Send(ServerMessage message) => Send(ProtocolSerializer.Serialize(message));

    /// <summary>Queues serialized bytes. An overflow is a slow consumer: the connection is closed with 1013.</summary>
    /// <returns>False when the connection is closing or the queue overflowed.</returns>
    public bool Send(ReadOnlyMemory<byte> utf8)
    {
        var startWriter = false;
        var overflow = false;
        lock (_sendLock)
        {
            if (_sendClosed)
            {
                return false;
            }

            if (_sendQueue.Count >= _runtime.Options.SendQueueLimit)
            {
                _sendClosed = overflow = true;
            }
            else
            {
                _sendQueue.Enqueue(utf8);
                _runtime.Metrics.SendQueueChanged(1);
                if (!_writerRunning)
                {
                    _writerRunning = startWriter = true;
                }
            }
        }

        if (overflow)
        {
            Log.SlowConsumer(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint, _runtime.Options.SendQueueLimit);
            StartTeardown(CloseCode.TryAgainLater.WithReason("slow_consumer"), DisconnectInitiator.Server);
            return false;
        }

        if (startWriter)
        {
            _ = WriteLoopAsync();
        }

        return true;
    }

    private async Task WriteLoopAsync()
    {
        await Task.Yield(); // never write on the caller's thread (the sweep, a publisher's fan-out)
        var maxFrame = _runtime.Options.MaxFrameSize;
        while (true)
        {
            ReadOnlyMemory<byte> frame;
            byte[]? rented = null;
            lock (_sendLock)
            {
                if (_sendQueue.Count == 0 || _sendClosed)
                {
                    _writerRunning = false;
                    return;
                }

                var first = _sendQueue.Dequeue();
                var taken = 1;
                if (_sendQueue.Count == 0 || first.Length + 1 + _sendQueue.Peek().Length > maxFrame)
                {
                    frame = first;
                }
                else
                {
                    rented = ArrayPool<byte>.Shared.Rent(maxFrame);
                    first.Span.CopyTo(rented);
                    var length = first.Length;
                    while (_sendQueue.Count > 0 && length + 1 + _sendQueue.Peek().Length <= maxFrame)
                    {
                        var next = _sendQueue.Dequeue();
                        rented[length++] = ProtocolConstants.MessageSeparator;
                        next.Span.CopyTo(rented.AsSpan(length));
                        length += next.Length;
                        taken++;
                    }

                    frame = rented.AsMemory(0, length);
                }

                _runtime.Metrics.SendQueueChanged(-taken);
            }

            try
            {
                // Not cancellable on purpose: cancelling a WebSocket send aborts the socket. A send blocked by a peer
                // that stopped reading is ended by teardown, which aborts the socket when its close cannot go out.
                await _socket.SendAsync(frame, WebSocketMessageType.Text, true, CancellationToken.None);
            }
            catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
            {
                lock (_sendLock)
                {
                    _writerRunning = false;
                }

                StartTeardown(CloseCode.Abnormal, DisconnectInitiator.Network, ex);
                return;
            }
            finally
            {
                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
        }
    }

    /// <summary>Stops the queue: nothing more is written after the close frame.</summary>
    private void CloseSendQueue()
    {
        lock (_sendLock)
        {
            _sendClosed = true;
            _runtime.Metrics.SendQueueChanged(-_sendQueue.Count);
            _sendQueue.Clear();
        }
    }
}
