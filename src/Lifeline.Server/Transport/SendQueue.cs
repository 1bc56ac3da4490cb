using System.Buffers;
using Lifeline.Protocol;

namespace Lifeline.Server.Transport;

/// <summary>What <see cref="SendQueue.Enqueue"/> did with a message.</summary>
internal enum EnqueueResult
{
    /// <summary>Queued; the writer will send it.</summary>
    Queued,

    /// <summary>The queue is closed (teardown began, or it overflowed before): dropped.</summary>
    Closed,

    /// <summary>The queue was full: it is now closed and the caller must close the connection as a slow consumer (1013).</summary>
    Overflow,

    /// <summary>Best-effort (<see cref="SendQueue.Offer"/>): the queue held too much, so this message was dropped; nothing else changed.</summary>
    Dropped,
}

/// <summary>
/// A connection's bounded send queue and its writer, on top of a <see cref="IConnectionTransport"/>. Messages arrive
/// already serialized (a message for many recipients is serialized once and the same bytes are queued to each). The
/// writer runs only while something is queued, so idle connections hold no task (and when nothing waits, the heartbeat
/// sweep writes its ping itself: <see cref="EnqueueOrWrite"/>); it packs whatever is queued into
/// one frame (line-feed separated) up to the frame limit, so a busy connection costs one send per batch.
/// Each entry carries the timestamp at which the engine accepted the publish it delivers (0 for other messages);
/// after the frame is written the writer reports <c>state_sync_latency_seconds{phase="delivery"}</c> for those
/// entries. Entries are structs and the timestamps of a batch go to a reused buffer: nothing is allocated per message.
/// The queue owns its closed state: once closed (teardown, overflow, a failed send) nothing more is queued or written.
/// A reply whose content is not known yet can hold its place (<see cref="Reserve"/>, then <see cref="Fill"/>): what is
/// queued after it waits until it is filled. That is how a publish's reply precedes the delta the publish caused, even
/// when the engine fans the delta out before it returns.
/// </summary>
internal sealed class SendQueue(IConnectionTransport transport, LifelineOptions options, LifelineMetrics metrics, TimeProvider time, ISendFailureHandler owner)
{
    private readonly Queue<QueuedMessage> _queue = new(); // also the lock of every field below (one object less per connection than a Lock)
    private long[] _batchPublishedAt = []; // writer-only: publish timestamps of the batch being written (allocated on the first delivery: idle connections hold none)
    private List<(long Sequence, long HelloAt)>? _resyncMarks; // under the lock; rare (one per resubscribed channel)
    private long _enqueued; // under the lock: messages ever queued
    private long _written; // under the lock: messages ever written
    private long _runningSince; // written under the lock, read without it (Backlog): when the running writer was started (publisher flow control)
    private TaskCompletionSource? _drained; // under the lock: a publisher waiting for this queue's backlog (WhenDrained); rare
    private bool _writerRunning; // under the lock
    private bool _closed; // written under the lock; read without it by Backlog

    /// <summary>
    /// Serialized bytes, and when the engine accepted the publish they deliver (a <see cref="TimeProvider"/> timestamp;
    /// 0: not a delivery); or a reserved place (<see cref="Slot"/>) whose bytes come later.
    /// </summary>
    private readonly record struct QueuedMessage(ReadOnlyMemory<byte> Bytes, long PublishedAt, ReservedSlot? Slot = null)
    {
        /// <summary>False for a reserved place that was not filled yet: the writer stops before it.</summary>
        public bool Ready => Slot is null || Slot.Filled;

        public ReadOnlyMemory<byte> Payload => Slot is null ? Bytes : Slot.Bytes;
    }

    /// <summary>Messages waiting to be written.</summary>
    public int Depth
    {
        get
        {
            lock (_queue)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>
    /// Publisher flow control (<c>Channels/PublishFlowControl.cs</c>): the messages waiting (not yet taken by the writer),
    /// since when the writer has been running without finding the queue empty (a <see cref="TimeProvider"/> timestamp),
    /// and whether the queue is closed.
    /// </summary>
    /// <remarks>
    /// Read without the lock: a publisher scans every subscriber of a channel after each publish, and a value a moment
    /// old is as good for that rule (each field is a single machine word; <see cref="Queue{T}.Count"/> is a field read).
    /// </remarks>
    public SendBacklog Backlog => new(_queue.Count, Volatile.Read(ref _runningSince), Volatile.Read(ref _closed));

    /// <summary>
    /// Publisher flow control: a task that completes once the writer has taken this queue down to
    /// <see cref="LifelineOptions.PublishBacklogLimit"/> waiting messages or fewer, or the queue closed; null when it
    /// already is. Every waiter shares one task.
    /// </summary>
    /// <returns>The task, or null.</returns>
    public Task? WhenDrained()
    {
        lock (_queue)
        {
            return _closed || _queue.Count <= options.PublishBacklogLimit
                ? null
                : (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }

    /// <summary>Queues serialized bytes; an overflow closes the queue and is reported to the caller.</summary>
    /// <param name="utf8">The message.</param>
    /// <param name="publishedAt">For a live delta: when the engine accepted its publish (timestamp); else 0.</param>
    /// <returns>What happened.</returns>
    public EnqueueResult Enqueue(ReadOnlyMemory<byte> utf8, long publishedAt = 0) => Add(new QueuedMessage(utf8, publishedAt));

    /// <summary>
    /// Queues serialized bytes only while fewer than <paramref name="bound"/> messages wait; otherwise drops them and
    /// reports <see cref="EnqueueResult.Dropped"/>. Never closes the queue: a best-effort message (an event, a user
    /// message) never makes a slow consumer.
    /// </summary>
    /// <param name="utf8">The message.</param>
    /// <param name="bound">Queue it only while fewer than this many messages wait.</param>
    /// <returns>What happened.</returns>
    public EnqueueResult Offer(ReadOnlyMemory<byte> utf8, int bound) => Add(new QueuedMessage(utf8, 0), bound);

    /// <summary>Holds a place for a message whose bytes are not known yet; what is queued later waits behind it.</summary>
    /// <param name="slot">The place, to <see cref="Fill"/> exactly once; null unless the result is <see cref="EnqueueResult.Queued"/>.</param>
    /// <returns>What happened.</returns>
    public EnqueueResult Reserve(out ReservedSlot? slot)
    {
        var reserved = new ReservedSlot();
        var result = Add(new QueuedMessage(default, 0, reserved));
        slot = result == EnqueueResult.Queued ? reserved : null;
        return result;
    }

    /// <summary>Gives a reserved place its bytes (empty: the place is skipped) and lets the writer go on past it.</summary>
    /// <param name="slot">The place.</param>
    /// <param name="utf8">The message, or empty.</param>
    public void Fill(ReservedSlot slot, ReadOnlyMemory<byte> utf8)
    {
        lock (_queue)
        {
            if (slot.Filled)
            {
                return;
            }

            slot.Bytes = utf8;
            slot.Filled = true;
            if (_closed || _writerRunning || _queue.Count == 0)
            {
                return;
            }

            _writerRunning = true;
            _runningSince = time.GetTimestamp();
        }

        _ = WriteLoopAsync();
    }

    /// <summary>
    /// Sends a message on the caller's thread when nothing is queued and no writer runs (the heartbeat sweep's ping):
    /// no task is woken for it. The caller is the writer while the send runs, so whatever is queued meanwhile waits
    /// behind it, exactly as behind a queued message; when the transport does not complete the send at once, the rest
    /// continues asynchronously. Otherwise the message is queued as by <see cref="Enqueue"/>, behind what waits.
    /// </summary>
    /// <param name="utf8">The message; it must stay unchanged until written (a shared, immutable array).</param>
    /// <returns>What happened (<see cref="EnqueueResult.Queued"/> also when it was written at once).</returns>
    public EnqueueResult EnqueueOrWrite(ReadOnlyMemory<byte> utf8)
    {
        lock (_queue)
        {
            if (_closed || _writerRunning || _queue.Count > 0)
            {
                return Add(new QueuedMessage(utf8, 0)); // re-enters the lock (a Monitor is reentrant): queued behind what waits
            }

            _writerRunning = true;
            _enqueued++;

            // Nothing waits: an idle connection gives its queue's array back (the welcome left one of four entries);
            // a connection that queues again grows a new one.
            if (_queue.EnsureCapacity(0) > 0)
            {
                _queue.TrimExcess(0);
            }
        }

        WriteInline(utf8);
        return EnqueueResult.Queued;
    }

    private void WriteInline(ReadOnlyMemory<byte> frame)
    {
        ValueTask send;
        try
        {
            send = transport.SendAsync(frame);
            if (!send.IsCompleted)
            {
                _ = CompleteInlineAsync(send);
                return;
            }

            send.GetAwaiter().GetResult();
        }
        catch (Exception ex) when (IsSendFailure(ex))
        {
            // Off the caller's thread: the sweep must not run a teardown (and the application's disconnected hook) itself.
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Queue.SendFailed(s.Error), (Queue: this, Error: ex), preferLocal: false);
            return;
        }

        AfterInline();
    }

    private async Task CompleteInlineAsync(ValueTask send)
    {
        try
        {
            await send;
        }
        catch (Exception ex) when (IsSendFailure(ex))
        {
            SendFailed(ex);
            return;
        }

        AfterInline();
    }

    /// <summary>After an inline write: counts it, then hands over to a writer when something was queued meanwhile.</summary>
    private void AfterInline()
    {
        RecordWritten(1, 0);
        lock (_queue)
        {
            if (_closed || _queue.Count == 0)
            {
                _writerRunning = false;
                return;
            }
        }

        _ = WriteLoopAsync();
    }

    private void SendFailed(Exception error)
    {
        lock (_queue)
        {
            _writerRunning = false;
        }

        owner.OnSendFailed(error);
    }

    private static bool IsSendFailure(Exception ex) =>
        ex is System.Net.WebSockets.WebSocketException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException;

    private EnqueueResult Add(QueuedMessage entry, int bestEffortBound = -1)
    {
        lock (_queue)
        {
            if (_closed)
            {
                return EnqueueResult.Closed;
            }

            if (bestEffortBound >= 0 && _queue.Count >= bestEffortBound)
            {
                return EnqueueResult.Dropped;
            }

            if (_queue.Count >= options.SendQueueLimit)
            {
                _closed = true;
                return EnqueueResult.Overflow;
            }

            _queue.Enqueue(entry);
            _enqueued++;
            metrics.SendQueueChanged(1);
            // A reservation has nothing to write yet: Fill starts the writer. Starting it here would schedule a write
            // ahead of the deliveries the publish is about to queue, and the reply would overtake them on the
            // thread pool: the publisher, paced by its replies, would run further ahead of its subscribers.
            if (_writerRunning || !entry.Ready)
            {
                return EnqueueResult.Queued;
            }

            _writerRunning = true;
            _runningSince = time.GetTimestamp();
        }

        _ = WriteLoopAsync();
        return EnqueueResult.Queued;
    }

    /// <summary>
    /// Packs a run of messages the server produced at once (a subscribe's catch-up: recovered deltas) into as few
    /// entries as the frame limit allows, line-feed separated exactly as the writer would pack them. A catch-up of
    /// thousands of deltas thus counts as a few entries against <see cref="LifelineOptions.SendQueueLimit"/>: the
    /// bound judges how fast the client reads, not how far behind it was when it resumed.
    /// </summary>
    /// <param name="messages">The messages, in order.</param>
    /// <returns>What happened to the last entry queued (the first one that was not queued, if any).</returns>
    public EnqueueResult EnqueuePacked(IEnumerable<ServerMessage> messages)
    {
        var max = options.MaxFrameSize;
        var packed = new ArrayBufferWriter<byte>();
        foreach (var message in messages)
        {
            var bytes = ProtocolSerializer.Serialize(message);
            if (packed.WrittenCount > 0 && packed.WrittenCount + 1 + bytes.Length > max)
            {
                if (Enqueue(packed.WrittenSpan.ToArray()) is not EnqueueResult.Queued and var refused)
                {
                    return refused;
                }

                packed.ResetWrittenCount();
            }

            if (packed.WrittenCount > 0)
            {
                packed.Write([ProtocolConstants.MessageSeparator]);
            }

            packed.Write(bytes);
        }

        return packed.WrittenCount == 0 ? EnqueueResult.Queued : Enqueue(packed.WrittenSpan.ToArray());
    }

    /// <summary>
    /// Reports <c>state_sync_latency_seconds{phase="resync"}</c> (hello received -> now) once everything queued so far
    /// (a subscribe's reply and catch-up) has been written; at once when it already has been.
    /// </summary>
    /// <param name="helloAt">When the hello was received (timestamp).</param>
    public void MarkResyncWhenWritten(long helloAt)
    {
        lock (_queue)
        {
            if (_closed)
            {
                return;
            }

            if (_written >= _enqueued)
            {
                metrics.ResyncWritten(time.GetElapsedTime(helloAt));
                return;
            }

            (_resyncMarks ??= []).Add((_enqueued, helloAt));
        }
    }

    /// <summary>Closes the queue: what is still queued is dropped and nothing more is written.</summary>
    public void Close()
    {
        lock (_queue)
        {
            _closed = true;
            metrics.SendQueueChanged(-_queue.Count);
            _queue.Clear();
            ReleaseDrainWaiter();
        }
    }

    private async Task WriteLoopAsync()
    {
        await Task.Yield(); // never write on the caller's thread (the sweep, a publisher's fan-out)
        var maxFrame = options.MaxFrameSize;
        while (true)
        {
            ReadOnlyMemory<byte> frame;
            byte[]? rented = null;
            var deliveries = 0;
            int taken;
            lock (_queue)
            {
                // Skip reserved places filled with nothing; stop before one that is not filled yet (Fill restarts us).
                taken = 0;
                while (_queue.Count > 0 && _queue.Peek() is { Ready: true, Payload.IsEmpty: true, Slot: not null })
                {
                    _queue.Dequeue();
                    taken++;
                }

                if (_queue.Count == 0 || _closed || !_queue.Peek().Ready)
                {
                    metrics.SendQueueChanged(-taken);
                    _written += taken;
                    _writerRunning = false;
                    return;
                }

                var first = _queue.Dequeue();
                taken++;
                NoteDelivery(first.PublishedAt, ref deliveries);
                if (_queue.Count == 0 || !_queue.Peek().Ready || first.Payload.Length + 1 + _queue.Peek().Payload.Length > maxFrame)
                {
                    frame = first.Payload;
                }
                else
                {
                    rented = ArrayPool<byte>.Shared.Rent(maxFrame);
                    first.Payload.Span.CopyTo(rented);
                    var length = first.Payload.Length;
                    while (_queue.Count > 0 && _queue.Peek() is { Ready: true } next && length + 1 + next.Payload.Length <= maxFrame)
                    {
                        _queue.Dequeue();
                        taken++;
                        if (next.Payload.IsEmpty && next.Slot is not null)
                        {
                            continue; // a reserved place filled with nothing
                        }

                        rented[length++] = ProtocolConstants.MessageSeparator;
                        next.Payload.Span.CopyTo(rented.AsSpan(length));
                        length += next.Payload.Length;
                        NoteDelivery(next.PublishedAt, ref deliveries);
                    }

                    frame = rented.AsMemory(0, length);
                }

                metrics.SendQueueChanged(-taken);
                if (_drained is not null && _queue.Count <= options.PublishBacklogLimit)
                {
                    ReleaseDrainWaiter();
                }
            }

            try
            {
                await transport.SendAsync(frame);
                RecordWritten(taken, deliveries);
            }
            catch (Exception ex) when (IsSendFailure(ex))
            {
                SendFailed(ex);
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

    /// <summary>Completes the publishers' wait (<see cref="WhenDrained"/>); under the lock (their continuations run asynchronously).</summary>
    private void ReleaseDrainWaiter()
    {
        _drained?.TrySetResult();
        _drained = null;
    }

    /// <summary>Keeps a batch entry's publish timestamp (writer only; the buffer grows to the largest batch, once).</summary>
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
        var now = time.GetTimestamp();
        for (var i = 0; i < deliveries; i++)
        {
            metrics.DeliveryWritten(time.GetElapsedTime(_batchPublishedAt[i], now));
        }

        lock (_queue)
        {
            _written += taken;
            if (_resyncMarks is { Count: > 0 } marks)
            {
                for (var i = marks.Count - 1; i >= 0; i--)
                {
                    if (marks[i].Sequence <= _written)
                    {
                        metrics.ResyncWritten(time.GetElapsedTime(marks[i].HelloAt, now));
                        marks.RemoveAt(i);
                    }
                }
            }
        }
    }
}

/// <summary>A send queue's backlog, for publisher flow control (<see cref="SendQueue.Backlog"/>).</summary>
/// <param name="Depth">Messages waiting, not yet taken by the writer.</param>
/// <param name="RunningSince">When the writer was started: it runs until it finds the queue empty, so a writer running
/// for long is one that cannot keep up (a reader that stopped, a link slower than the publish rate). A
/// <see cref="TimeProvider"/> timestamp; stale while the writer is not running.</param>
/// <param name="Closed">The queue is closed (teardown began, or it overflowed): its subscriber is leaving.</param>
internal readonly record struct SendBacklog(int Depth, long RunningSince, bool Closed);

/// <summary>A place held in a <see cref="SendQueue"/> for a message whose bytes come later (<see cref="SendQueue.Fill"/>).</summary>
internal sealed class ReservedSlot
{
    /// <summary>The message, once filled (empty: skipped).</summary>
    public ReadOnlyMemory<byte> Bytes { get; set; }

    /// <summary>True once filled; the writer does not pass an unfilled place.</summary>
    public bool Filled { get; set; }
}

/// <summary>Who hears that a <see cref="SendQueue"/>'s write failed (the connection, which tears down with 1006).</summary>
internal interface ISendFailureHandler
{
    /// <summary>A frame could not be written; the queue has stopped.</summary>
    /// <param name="error">Why.</param>
    void OnSendFailed(Exception error);
}
