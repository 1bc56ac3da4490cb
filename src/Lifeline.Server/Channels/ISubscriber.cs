using Lifeline.Protocol;
using Lifeline.Server.Transport;

namespace Lifeline.Server.Channels;

/// <summary>
/// What a channel needs from a connection, and nothing more: queue bytes for it, and close it. Channels never see the
/// connection, its state or its transport.
/// </summary>
internal interface ISubscriber
{
    /// <summary>The connection id, for logs.</summary>
    string Id { get; }

    /// <summary>Signalled when the subscriber goes away: cancels its pending channel work.</summary>
    CancellationToken Aborted { get; }

    /// <summary>Queues serialized bytes. Never blocks and never tears down on the caller's thread (it may hold a channel lock).</summary>
    /// <param name="utf8">The serialized message.</param>
    /// <param name="publishedAt">For a live delta: when its publish was accepted (timestamp of the hub's clock); else 0.</param>
    /// <returns>False when the subscriber is closing or just overflowed (a slow consumer).</returns>
    bool Enqueue(ReadOnlyMemory<byte> utf8, long publishedAt = 0);

    /// <summary>Serializes and queues a message.</summary>
    /// <param name="message">The message.</param>
    /// <returns>False when the subscriber is closing or overflowed.</returns>
    bool Enqueue(ServerMessage message);

    /// <summary>
    /// Queues an event's bytes best-effort: only while the send queue is not over half full (at most
    /// <see cref="LifelineOptions.SendQueueLimit"/> / 2 messages wait); otherwise the event is dropped and counted
    /// (<c>ws_events_dropped_total</c>). Never closes the subscriber and never blocks.
    /// </summary>
    /// <param name="utf8">The serialized <c>event</c>.</param>
    void EnqueueEvent(ReadOnlyMemory<byte> utf8);

    /// <summary>Queues a run of messages packed into as few queue entries as frames allow (a catch-up).</summary>
    /// <param name="messages">The messages, in order.</param>
    /// <returns>False when the subscriber is closing or overflowed.</returns>
    bool EnqueuePacked(IEnumerable<ServerMessage> messages);

    /// <summary>Publisher flow control (<see cref="PublishFlowControl"/>): its send queue's backlog. Never blocks.</summary>
    SendBacklog Backlog { get; }

    /// <summary>
    /// Publisher flow control: completes once its send queue is down to <see cref="LifelineOptions.PublishBacklogLimit"/>
    /// waiting messages or fewer, or closed; null when it already is.
    /// </summary>
    /// <returns>The task, or null.</returns>
    Task? WhenDrained();

    /// <summary>Closes the subscriber with <paramref name="code"/>; the teardown runs later, off the caller's thread.</summary>
    /// <param name="code">The close code.</param>
    /// <param name="error">Why, when an exception says it.</param>
    void Abort(CloseCode code, Exception? error);
}
