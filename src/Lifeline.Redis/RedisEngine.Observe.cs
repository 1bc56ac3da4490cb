// Fan-out on this node: one pub/sub subscription per channel with local observers (deltas, presence events and channel
// events travel on it), kept in _observed and changed under _observeGate (both declared and written only here), delivery
// of every delta once and in offset order by ObservedChannel (which reads holes from RedisChannelStore; events are
// handed on in arrival order and never touch that bookkeeping), and the re-check of every observed channel after the
// connection is restored.
using System.Collections.Concurrent;
using System.Globalization;
using Lifeline.Engine;
using Lifeline.Protocol;
using Lifeline.Redis.Internal;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Lifeline.Redis;

public sealed partial class RedisEngine
{
    private readonly ConcurrentDictionary<string, ObservedChannel> _observed = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _observeGate = new(1, 1);

    /// <inheritdoc />
    public async ValueTask<IAsyncDisposable> ObserveAsync(string channel, IChannelObserver observer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(observer);
        Check(channel, cancellationToken);
        await _observeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_observed.TryGetValue(channel, out var observed))
            {
                observed = await StartObservingAsync(channel).ConfigureAwait(false);
                _observed[channel] = observed;
            }

            observed.Add(observer);
            return new Registration(this, observed, observer);
        }
        finally
        {
            _observeGate.Release();
        }
    }

    /// <summary>Subscribes first, then reads where the channel is: deltas at or below that offset are not delivered.</summary>
    private async Task<ObservedChannel> StartObservingAsync(string channel)
    {
        var observed = new ObservedChannel(channel, _store, _logger);
        var pubSub = PubSubChannel(_keys.PubSub(channel));
        var queue = await CallAsync(() => _redis.GetSubscriber().SubscribeAsync(pubSub)).ConfigureAwait(false);
        observed.Queue = queue;
        queue.OnMessage(observed.HandleAsync);
        try
        {
            var head = await _store.HeadAsync(channel).ConfigureAwait(false);
            observed.Start(head.Epoch, head.Offset);
            return observed;
        }
        catch
        {
            await queue.UnsubscribeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async ValueTask UnobserveAsync(ObservedChannel observed, IChannelObserver observer)
    {
        await _observeGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (observed.Remove(observer) == 0 && _observed.TryRemove(KeyValuePair.Create(observed.Name, observed)))
            {
                await observed.StopAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _observeGate.Release();
        }
    }

    private async Task UnobserveAllAsync()
    {
        foreach (var observed in _observed.Values)
        {
            try
            {
                await observed.StopAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or ObjectDisposedException)
            {
                // Shutting down: the subscription ends with the connection.
            }
        }

        _observed.Clear();
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e) =>
        RedisLog.ConnectionFailed(_logger, e.FailureType.ToString());

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        // Pub/sub messages published while the connection was down are lost: check every observed channel's head and fill
        // the hole from the history, or tell observers to resynchronize when it cannot be proven that nothing was lost.
        var channels = _observed.Values.ToArray();
        RedisLog.ConnectionRestored(_logger, channels.Length);
        foreach (var observed in channels)
        {
            _ = observed.CheckContinuityAsync();
        }
    }

    /// <summary>The handle returned by <see cref="ObserveAsync"/>; disposing it twice is harmless.</summary>
    private sealed class Registration(RedisEngine engine, ObservedChannel observed, IChannelObserver observer) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                await engine.UnobserveAsync(observed, observer).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// One channel this node observes: its pub/sub subscription, its local observers and the last offset delivered to
    /// them. Messages and continuity checks run one at a time (<see cref="_gate"/>), so deliveries never overlap and
    /// stay in offset order.
    /// </summary>
#pragma warning disable CA1001 // _gate never allocates a wait handle (only WaitAsync is used), so there is nothing to dispose
    private sealed class ObservedChannel(string name, RedisChannelStore store, ILogger logger)
#pragma warning restore CA1001
    {
        private readonly Lock _lock = new();
        private readonly SemaphoreSlim _gate = new(1, 1);
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private IChannelObserver[] _observers = [];
        private string _epoch = string.Empty;
        private long _lastOffset;

        public string Name { get; } = name;

        public ChannelMessageQueue? Queue { get; set; }

        public void Start(string epoch, long offset)
        {
            _epoch = epoch;
            _lastOffset = offset;
            _started.TrySetResult();
        }

        public void Add(IChannelObserver observer)
        {
            lock (_lock)
            {
                _observers = [.. _observers, observer];
            }
        }

        /// <summary>Removes one registration; returns how many remain. Once it returns, the observer is not called again.</summary>
        public int Remove(IChannelObserver observer)
        {
            lock (_lock)
            {
                var index = Array.IndexOf(_observers, observer);
                if (index >= 0)
                {
                    _observers = [.. _observers.AsSpan(0, index), .. _observers.AsSpan(index + 1)];
                }

                return _observers.Length;
            }
        }

        public async Task StopAsync()
        {
            _started.TrySetCanceled();
            if (Queue is { } queue)
            {
                try
                {
                    await queue.UnsubscribeAsync().ConfigureAwait(false);
                }
                catch (RedisConnectionException)
                {
                    // The connection that held the subscription is gone (Redis down, or closed while unsubscribing):
                    // so is the subscription. Disposing an observation must not fail because Redis did
                    // (RedisEngineTests' Redis-down test saw this race once under a loaded CI=true ./test.sh).
                }
            }
        }

        public async Task HandleAsync(ChannelMessage message)
        {
            try
            {
                await _started.Task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                var text = message.Message.ToString();
                if (text.StartsWith("D\n", StringComparison.Ordinal))
                {
                    await OnDeltaAsync(text).ConfigureAwait(false);
                }
                else if (text.StartsWith("P\n", StringComparison.Ordinal))
                {
                    OnPresence(text);
                }
                else if (MessageCodec.IsEvent(text))
                {
                    // Not a delta: no offset, so the last delivered offset and the hole filling are left alone.
                    OnEvent(MessageCodec.DecodeEvent(Name, text));
                }
            }
            catch (Exception ex)
            {
                RedisLog.MessageFailed(logger, Name, ex);
            }
            finally
            {
                _gate.Release();
            }
        }

        /// <summary>After a reconnect: deliver what was missed, or ask observers to resynchronize.</summary>
        public async Task CheckContinuityAsync()
        {
            try
            {
                await _started.Task.ConfigureAwait(false);
                await _gate.WaitAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                var head = await store.HeadAsync(Name).ConfigureAwait(false);
                if (!string.Equals(head.Epoch, _epoch, StringComparison.Ordinal))
                {
                    ChangeEpoch(head.Epoch);
                }

                if (head.Offset > _lastOffset)
                {
                    await FillAsync(head.Offset).ConfigureAwait(false);
                }
                else if (head.Offset < _lastOffset)
                {
                    // Redis went back in time (restored from an older dump): this epoch's history cannot be trusted.
                    ResyncAll(head.Epoch, head.Offset);
                }
            }
            catch (Exception ex)
            {
                RedisLog.ContinuityCheckFailed(logger, Name, ex);
                ResyncAll(_epoch, _lastOffset);
            }
            finally
            {
                _gate.Release();
            }
        }

        private async Task OnDeltaAsync(string text)
        {
            // D \n epoch \n offset \n ts \n patch (the patch last: it is the only part that may hold anything)
            var parts = text.Split('\n', 5);
            var epoch = parts[1];
            var offset = long.Parse(parts[2], CultureInfo.InvariantCulture);
            var ts = long.Parse(parts[3], CultureInfo.InvariantCulture);
            if (!string.Equals(epoch, _epoch, StringComparison.Ordinal))
            {
                ChangeEpoch(epoch);
            }

            if (offset <= _lastOffset)
            {
                return; // delivered already (from the history, while filling a hole)
            }

            if (offset > _lastOffset + 1)
            {
                await FillAsync(offset - 1).ConfigureAwait(false);
            }

            Deliver(new ChannelDelta(Name, epoch, offset, RedisText.ParseJson(parts[4]), ts));
        }

        /// <summary>Delivers the deltas after the last delivered one up to <paramref name="upTo"/> from the history.</summary>
        private async Task FillAsync(long upTo)
        {
            var from = _lastOffset + 1;
            var read = await store.ReadAsync(Name, new Position(_epoch, _lastOffset), upTo).ConfigureAwait(false);
            if (read.Recovered && string.Equals(read.Epoch, _epoch, StringComparison.Ordinal) && read.Deltas.Count == upTo - _lastOffset)
            {
                RedisLog.GapFilled(logger, Name, from, upTo);
                foreach (var delta in read.Deltas)
                {
                    Deliver(delta);
                }

                return;
            }

            RedisLog.GapUnrecoverable(logger, Name, from, upTo);
            ResyncAll(_epoch, upTo);
        }

        private void ChangeEpoch(string epoch)
        {
            RedisLog.EpochChanged(logger, Name, _epoch, epoch);
            ResyncAll(epoch, 0);
        }

        /// <summary>Observers cannot be given a gap-free sequence: they take a snapshot; deliveries continue after <paramref name="offset"/>.</summary>
        private void ResyncAll(string epoch, long offset)
        {
            _epoch = epoch;
            _lastOffset = offset;
            lock (_lock)
            {
                foreach (var observer in _observers)
                {
                    try
                    {
                        observer.OnEpochChanged(Name, epoch);
                    }
                    catch (Exception ex)
                    {
                        RedisLog.ObserverFailed(logger, Name, nameof(IChannelObserver.OnEpochChanged), ex);
                    }
                }
            }
        }

        private void Deliver(ChannelDelta delta)
        {
            _lastOffset = delta.Offset;
            lock (_lock)
            {
                foreach (var observer in _observers)
                {
                    try
                    {
                        observer.OnDelta(delta);
                    }
                    catch (Exception ex)
                    {
                        RedisLog.ObserverFailed(logger, Name, nameof(IChannelObserver.OnDelta), ex);
                    }
                }
            }
        }

        private void OnEvent(ChannelEvent channelEvent)
        {
            lock (_lock)
            {
                foreach (var observer in _observers)
                {
                    try
                    {
                        observer.OnEvent(channelEvent);
                    }
                    catch (Exception ex)
                    {
                        RedisLog.ObserverFailed(logger, Name, nameof(IChannelObserver.OnEvent), ex);
                    }
                }
            }
        }

        private void OnPresence(string text)
        {
            // P \n event \n ts \n reason \n user (the user last)
            var parts = text.Split('\n', 5);
            var presence = new PresenceEvent(
                Name,
                parts[1],
                parts[4],
                parts[3].Length == 0 ? null : parts[3],
                long.Parse(parts[2], CultureInfo.InvariantCulture));
            lock (_lock)
            {
                foreach (var observer in _observers)
                {
                    try
                    {
                        observer.OnPresence(presence);
                    }
                    catch (Exception ex)
                    {
                        RedisLog.ObserverFailed(logger, Name, nameof(IChannelObserver.OnPresence), ex);
                    }
                }
            }
        }
    }
}
