using System.Buffers;
using System.Net.WebSockets;
using Lifeline.Protocol;

namespace Lifeline.Server.Internal;

/// <summary>
/// The bounded send queue and its writer. Messages arrive already serialized (a message for many recipients is
/// serialized once and the same bytes are queued to each). The writer runs only while something is queued, so idle
/// connections hold no task; it packs whatever is queued into one frame (line-feed separated) up to
/// <see cref="LifelineOptions.MaxFrameSize"/>, so a busy connection costs one send per batch.
/// Each queue entry carries the timestamp at which the engine accepted the publish it delivers (0 for other
/// messages); after the frame is written the writer records <c>state_sync_latency_seconds{phase="delivery"}</c> for
/// those entries. Entries are structs and the timestamps of a batch go to a reused buffer: nothing is allocated per message.
/// </summary>
internal sealed partial class Connection
{
    private readonly Lock _sendLock = new();
    private readonly Queue<QueuedMessage> _sendQueue = new();
    private long[] _batchPublishedAt = []; // writer-only: publish timestamps of the batch being written (allocated on the first delivery: idle connections hold none)
    private List<(long Sequence, long HelloAt)>? _resyncMarks; // under _sendLock; rare (one per resubscribed channel)
    private long _enqueued; // under _sendLock: messages ever queued
    private long _written; // under _sendLock: messages ever written
    private bool _writerRunning;
    private bool _sendClosed;

    /// <summary>Serialized bytes, and when the engine accepted the publish they deliver (a timestamp of the runtime's <see cref="TimeProvider"/>; 0: not a delivery).</summary>
    private readonly record struct QueuedMessage(ReadOnlyMemory<byte> Bytes, long PublishedAt);

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
    /// <param name="utf8">The message.</param>
    /// <param name="publishedAt">For a live delta: when the engine accepted its publish (runtime timestamp); else 0.</param>
    /// <returns>False when the connection is closing or the queue overflowed.</returns>
    public bool Send(ReadOnlyMemory<byte> utf8, long publishedAt = 0)
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
                _sendQueue.Enqueue(new QueuedMessage(utf8, publishedAt));
                _enqueued++;
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

    /// <summary>
    /// Queues a run of messages the server produced at once (a subscribe's catch-up: recovered deltas) packed into as
    /// few queue entries as <see cref="LifelineOptions.MaxFrameSize"/> allows, line-feed separated exactly as the
    /// writer would pack them. A catch-up of thousands of deltas thus counts as a few entries against
    /// <see cref="LifelineOptions.SendQueueLimit"/>: the bound judges how fast the client reads, not how far behind it
    /// was when it resumed (before, a resume more than SendQueueLimit deltas behind was closed with 1013 at once,
    /// again and again).
    /// </summary>
    /// <param name="messages">The messages, in order.</param>
    /// <returns>False when the connection is closing or the queue overflowed.</returns>
    public bool SendPacked(IEnumerable<ServerMessage> messages)
    {
        var max = _runtime.Options.MaxFrameSize;
        var packed = new ArrayBufferWriter<byte>();
        foreach (var message in messages)
        {
            var bytes = ProtocolSerializer.Serialize(message);
            if (packed.WrittenCount > 0 && packed.WrittenCount + 1 + bytes.Length > max)
            {
                if (!Send(packed.WrittenSpan.ToArray()))
                {
                    return false;
                }

                packed.ResetWrittenCount();
            }

            if (packed.WrittenCount > 0)
            {
                packed.Write([ProtocolConstants.MessageSeparator]);
            }

            packed.Write(bytes);
        }

        return packed.WrittenCount == 0 || Send(packed.WrittenSpan.ToArray());
    }

    private async Task WriteLoopAsync()
    {
        await Task.Yield(); // never write on the caller's thread (the sweep, a publisher's fan-out)
        var maxFrame = _runtime.Options.MaxFrameSize;
        while (true)
        {
            ReadOnlyMemory<byte> frame;
            byte[]? rented = null;
            var deliveries = 0;
            int taken;
            lock (_sendLock)
            {
                if (_sendQueue.Count == 0 || _sendClosed)
                {
                    _writerRunning = false;
                    return;
                }

                var first = _sendQueue.Dequeue();
                taken = 1;
                NoteDelivery(first.PublishedAt, ref deliveries);
                if (_sendQueue.Count == 0 || first.Bytes.Length + 1 + _sendQueue.Peek().Bytes.Length > maxFrame)
                {
                    frame = first.Bytes;
                }
                else
                {
                    rented = ArrayPool<byte>.Shared.Rent(maxFrame);
                    first.Bytes.Span.CopyTo(rented);
                    var length = first.Bytes.Length;
                    while (_sendQueue.Count > 0 && length + 1 + _sendQueue.Peek().Bytes.Length <= maxFrame)
                    {
                        var next = _sendQueue.Dequeue();
                        rented[length++] = ProtocolConstants.MessageSeparator;
                        next.Bytes.Span.CopyTo(rented.AsSpan(length));
                        length += next.Bytes.Length;
                        NoteDelivery(next.PublishedAt, ref deliveries);
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
                RecordWritten(taken, deliveries);
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

    /// <summary>Keeps a batch entry's publish timestamp (writer thread only; the buffer grows to the largest batch, once).</summary>
    private void NoteDelivery(long publishedAt, ref int deliveries)
    {
        if (publishedAt == 0)
        {
            return;
        }

        if (deliveries == _batchPublishedAt.Length)
        {
            Array.Resize(ref _batchPublishedAt, Math.Max(16, deliveries * 2));
        }

        _batchPublishedAt[deliveries++] = publishedAt;
    }

    /// <summary>After a frame went out: delivery latencies of its deltas, and resync marks now reached.</summary>
    private void RecordWritten(int taken, int deliveries)
    {
        var now = _runtime.Time.GetTimestamp();
        for (var i = 0; i < deliveries; i++)
        {
            _runtime.Metrics.DeliveryWritten(_runtime.Time.GetElapsedTime(_batchPublishedAt[i], now));
        }

        lock (_sendLock)
        {
            _written += taken;
            if (_resyncMarks is { Count: > 0 } marks)
            {
                for (var i = marks.Count - 1; i >= 0; i--)
                {
                    if (marks[i].Sequence <= _written)
                    {
                        _runtime.Metrics.ResyncWritten(_runtime.Time.GetElapsedTime(marks[i].HelloAt, now));
                        marks.RemoveAt(i);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Records <c>state_sync_latency_seconds{phase="resync"}</c> (hello received -> now) once everything queued so
    /// far (a subscribe's reply and catch-up) has been written; at once when it already has been.
    /// </summary>
    private void MarkResyncWhenWritten(long helloAt)
    {
        lock (_sendLock)
        {
            if (_sendClosed)
            {
                return;
            }

            if (_written >= _enqueued)
            {
                _runtime.Metrics.ResyncWritten(_runtime.Time.GetElapsedTime(helloAt));
                return;
            }

            (_resyncMarks ??= []).Add((_enqueued, helloAt));
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
