using Lifeline.Engine;
using StackExchange.Redis;

namespace Lifeline.Redis.Tests;

/// <summary>
/// Records deltas and events of one channel in arrival order ("d1", "e:DATA"), so a test can check that events keep
/// their place among the deltas; tests await a count without sleeping.
/// </summary>
internal sealed class SequenceObserver : IChannelObserver
{
    private readonly Lock _lock = new();
    private readonly List<string> _items = [];
    private readonly List<string> _epochs = [];
    private readonly List<(int Count, TaskCompletionSource Tcs)> _waiters = [];

    public IReadOnlyList<string> Items
    {
        get
        {
            lock (_lock)
            {
                return [.. _items];
            }
        }
    }

    public IReadOnlyList<string> EpochChanges
    {
        get
        {
            lock (_lock)
            {
                return [.. _epochs];
            }
        }
    }

    public void OnDelta(ChannelDelta delta) => Add("d" + delta.Offset);

    public void OnEvent(ChannelEvent channelEvent) => Add("e:" + channelEvent.Data.GetRawText());

    public void OnPresence(PresenceEvent presence) => Add("p:" + presence.Event + ":" + presence.User);

    public void OnEpochChanged(string channel, string epoch)
    {
        lock (_lock)
        {
            _epochs.Add(epoch);
        }
    }

    /// <summary>Completes when at least <paramref name="count"/> deltas and events arrived; fails after the default timeout.</summary>
    public Task WaitForAsync(int count)
    {
        lock (_lock)
        {
            if (_items.Count >= count)
            {
                return Task.CompletedTask;
            }

            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, tcs));
            return tcs.Task.DefaultTimeout();
        }
    }

    private void Add(string item)
    {
        lock (_lock)
        {
            _items.Add(item);
            _waiters.RemoveAll(w =>
            {
                if (_items.Count < w.Count)
                {
                    return false;
                }

                w.Tcs.TrySetResult();
                return true;
            });
        }
    }
}

/// <summary>Redis-side checks of the messaging tests.</summary>
internal static class RedisProbe
{
    /// <summary>
    /// How many clients are subscribed to the sharded pub/sub channel <paramref name="name"/>, summed over the masters
    /// (on a cluster only the owner of its slot answers with the count).
    /// </summary>
    public static async Task<long> ShardSubscribersAsync(IConnectionMultiplexer connection, string name)
    {
        long total = 0;
        foreach (var server in connection.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            try
            {
                var reply = (RedisResult[])(await server.ExecuteAsync("PUBSUB", "SHARDNUMSUB", name))!;
                total += (long)reply[1];
            }
            catch (RedisServerException)
            {
                // MOVED: another master owns the slot.
            }
        }

        return total;
    }

    /// <summary>Calls <paramref name="probe"/> until it returns <paramref name="expected"/>, within the default test timeout.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> probe, T expected)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var value = await probe();
            if (EqualityComparer<T>.Default.Equals(value, expected) || clock.Elapsed > TestTimeouts.Default)
            {
                return value;
            }

            await Task.Delay(25);
        }
    }
}
