using System.Collections.Concurrent;
using Lifeline.Engine;
using Lifeline.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lifeline.Server.Channels;

/// <summary>
/// This node's channel fan-out: one engine observation per channel with local subscribers, subscriptions that
/// register for live deltas first and then catch up from history or a snapshot, and resyncs when a subscription
/// sees a hole or an epoch change; and the publishers' flow control (<see cref="PublishFlowControl"/>).
/// </summary>
internal sealed partial class ChannelHub(ILifelineEngine engine, ILogger<ChannelHub> logger, TimeProvider time, IOptions<LifelineOptions> options, LifelineMetrics metrics)
{
    /// <summary>How many times a subscribe re-reads the history when deltas raced the read.</summary>
    private const int MaxRecoveryAttempts = 4;

    private readonly ConcurrentDictionary<string, LocalChannel> _channels = new(StringComparer.Ordinal);
    private readonly PublishFlowControl _flow = new(options.Value, time, metrics);

    /// <summary>The clock of the accepted-publish timestamps carried with queued deltas (the runtime's clock).</summary>
    public TimeProvider Time { get; } = time;

    /// <summary>Channels with at least one local subscriber.</summary>
    public int ChannelCount => _channels.Count;

    /// <summary>
    /// Subscribes: registers for live deltas, reads what the client needs from <paramref name="since"/>, queues the
    /// <c>subscribed</c> reply, the snapshot or recovered deltas, then the buffered live deltas; no gap, no duplicate.
    /// </summary>
    public async ValueTask<Subscription> SubscribeAsync(ISubscriber subscriber, long? id, string channel, Position? since, CancellationToken ct)
    {
        var subscription = new Subscription(subscriber, channel);
        var local = await AttachAsync(channel, subscription, ct);
        try
        {
            await CatchUpAsync(subscription, since, id, ct);
            return subscription;
        }
        catch
        {
            await DetachAsync(subscription);
            throw;
        }
    }

    /// <summary>
    /// Holds a publisher after its publish to <paramref name="channel"/> while the channel's fan-out backlog on this node
    /// is over <see cref="LifelineOptions.PublishBacklogLimit"/> (the rule: <see cref="PublishFlowControl"/>). At once
    /// when the channel has no subscriber here. Never throws; cancellation ends the wait.
    /// </summary>
    /// <returns>True when the publisher was held.</returns>
    /// <param name="channel">The channel published to.</param>
    /// <param name="publisher">The publishing connection (never held by its own queue), or null for the server API.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    public ValueTask<bool> WaitForBacklogAsync(string channel, ISubscriber? publisher, CancellationToken cancellationToken) =>
        _channels.TryGetValue(channel, out var local) ? _flow.WaitAsync(local, publisher, cancellationToken) : ValueTask.FromResult(false);

    /// <summary>Ends a subscription: no more deliveries; the engine observation goes when the last local one does.</summary>
    public async Task DetachAsync(Subscription subscription)
    {
        subscription.Deactivate();
        if (!_channels.TryGetValue(subscription.Channel, out var local))
        {
            return;
        }

        await local.Gate.WaitAsync();
        try
        {
            local.Remove(subscription);
            if (local.Count == 0 && !local.Retired)
            {
                local.Retired = true;
                _channels.TryRemove(new KeyValuePair<string, LocalChannel>(local.Name, local));
                if (local.Observation is { } observation)
                {
                    await observation.DisposeAsync();
                }
            }
        }
        finally
        {
            local.Gate.Release();
        }
    }

    /// <summary>Starts a resync of a subscription that saw a hole or an epoch change; failures are logged.</summary>
    public void StartResync(Subscription subscription) => _ = ResyncAsync(subscription);

    private async Task ResyncAsync(Subscription subscription)
    {
        try
        {
            await Task.Yield(); // never run the engine read inside the fan-out (it may hold the channel lock)
            Log.Resync(logger, subscription.Channel, subscription.Subscriber.Id);
            await CatchUpAsync(subscription, subscription.LastPosition, id: null, subscription.Subscriber.Aborted);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            Log.ResyncFailed(logger, ex, subscription.Channel, subscription.Subscriber.Id);
            subscription.Subscriber.Abort(CloseCode.InternalError.WithReason("resync_failed"), ex);
        }
    }

    private async Task CatchUpAsync(Subscription subscription, Position? since, long? id, CancellationToken ct)
    {
        var position = since;
        for (var attempt = 1; ; attempt++)
        {
            var recovery = await engine.RecoverAsync(subscription.Channel, position, ct);
            var result = subscription.Apply(recovery, attempt == 1 ? id : null, mayRetry: attempt < MaxRecoveryAttempts);
            if (!result.ResyncRequired || attempt >= MaxRecoveryAttempts)
            {
                return;
            }

            position = result.LastPosition;
        }
    }

    private async ValueTask<LocalChannel> AttachAsync(string channel, Subscription subscription, CancellationToken ct)
    {
        while (true)
        {
            var local = _channels.GetOrAdd(channel, static (name, hub) => new LocalChannel(name, hub), this);
            await local.Gate.WaitAsync(ct);
            try
            {
                if (local.Retired)
                {
                    continue;
                }

                local.Observation ??= await engine.ObserveAsync(channel, local, ct);
                local.Add(subscription);
                return local;
            }
            finally
            {
                local.Gate.Release();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Debug, "Channel {Channel}: resynchronizing connection {ConnectionId}", EventName = "ChannelResync")]
        public static partial void Resync(ILogger logger, string channel, string connectionId);

        [LoggerMessage(41, LogLevel.Error, "Channel {Channel}: resync of connection {ConnectionId} failed", EventName = "ChannelResyncFailed")]
        public static partial void ResyncFailed(ILogger logger, Exception exception, string channel, string connectionId);
    }
}
