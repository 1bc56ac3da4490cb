using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lifeline.Engine.Tests;

/// <summary>Small helpers shared by the engine tests.</summary>
internal static class TestSupport
{
    /// <summary>A fixed start time, so timestamps in failures are readable and runs are repeatable.</summary>
    public static readonly DateTimeOffset StartTime = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Parses JSON into a detached element.</summary>
    public static JsonElement J(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    /// <summary>Asserts that two JSON values are equal as JSON (member order ignored).</summary>
    public static void JsonEqual(string expected, JsonElement actual) =>
        Assert.True(
            JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(actual.GetRawText())),
            $"expected {expected}, got {actual.GetRawText()}");

    public static void JsonEqual(JsonElement expected, JsonElement actual) => JsonEqual(expected.GetRawText(), actual);

    public static string NewChannel() => "test:" + Guid.NewGuid().ToString("N");
}

/// <summary>
/// Records what an engine delivers to one observer and lets tests await a count of deliveries without sleeping.
/// Also detects overlapping calls, which the contract forbids for one channel.
/// </summary>
internal sealed class RecordingObserver : IChannelObserver
{
    private readonly Lock _lock = new();
    private readonly List<ChannelDelta> _deltas = [];
    private readonly List<PresenceEvent> _presence = [];
    private readonly List<string> _epochs = [];
    private readonly List<ChannelEvent> _events = [];
    private readonly List<(Func<bool> Done, TaskCompletionSource Tcs)> _waiters = [];
    private int _inside;
    private int _overlaps;

    public IReadOnlyList<ChannelDelta> Deltas
    {
        get
        {
            lock (_lock)
            {
                return [.. _deltas];
            }
        }
    }

    public IReadOnlyList<PresenceEvent> Presence
    {
        get
        {
            lock (_lock)
            {
                return [.. _presence];
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

    public IReadOnlyList<ChannelEvent> Events
    {
        get
        {
            lock (_lock)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>How many times a call started while another was still running.</summary>
    public int Overlaps => Volatile.Read(ref _overlaps);

    public void OnDelta(ChannelDelta delta) => Record(() => _deltas.Add(delta));

    public void OnPresence(PresenceEvent presence) => Record(() => _presence.Add(presence));

    public void OnEpochChanged(string channel, string epoch) => Record(() => _epochs.Add(epoch));

    public void OnEvent(ChannelEvent channelEvent) => Record(() => _events.Add(channelEvent));

    /// <summary>Completes when at least <paramref name="count"/> events were received.</summary>
    public Task WaitForEventsAsync(int count) => WaitAsync(() => _events.Count >= count);

    /// <summary>Completes when at least <paramref name="count"/> deltas were received; fails after the default timeout.</summary>
    public Task WaitForDeltasAsync(int count) => WaitAsync(() => _deltas.Count >= count);

    /// <summary>Completes when at least <paramref name="count"/> presence events were received.</summary>
    public Task WaitForPresenceAsync(int count) => WaitAsync(() => _presence.Count >= count);

    /// <summary>Completes when at least <paramref name="count"/> epoch changes were received.</summary>
    public Task WaitForEpochChangesAsync(int count) => WaitAsync(() => _epochs.Count >= count);

    /// <summary>Completes when a delta with <paramref name="offset"/> was received.</summary>
    public Task WaitForOffsetAsync(long offset) => WaitAsync(() => _deltas.Exists(d => d.Offset == offset));

    private Task WaitAsync(Func<bool> done)
    {
        lock (_lock)
        {
            if (done())
            {
                return Task.CompletedTask;
            }

            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((done, tcs));
            return tcs.Task.DefaultTimeout();
        }
    }

    private void Record(Action add)
    {
        if (Interlocked.Increment(ref _inside) > 1)
        {
            Interlocked.Increment(ref _overlaps);
        }

        try
        {
            lock (_lock)
            {
                add();
                _waiters.RemoveAll(w =>
                {
                    if (!w.Done())
                    {
                        return false;
                    }

                    w.Tcs.TrySetResult();
                    return true;
                });
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inside);
        }
    }
}

/// <summary>An observer with a bug: every callback throws.</summary>
internal sealed class ThrowingObserver : IChannelObserver
{
    public void OnDelta(ChannelDelta delta) => throw new InvalidOperationException("observer bug");

    public void OnPresence(PresenceEvent presence) => throw new InvalidOperationException("observer bug");

    public void OnEpochChanged(string channel, string epoch) => throw new InvalidOperationException("observer bug");

    public void OnEvent(ChannelEvent channelEvent) => throw new InvalidOperationException("observer bug");
}

/// <summary>Records the messages and disconnect orders delivered to one user observer; tests await counts without sleeping.</summary>
internal sealed class RecordingUserObserver : IUserObserver
{
    private readonly Lock _lock = new();
    private readonly List<UserMessage> _messages = [];
    private readonly List<UserDisconnect> _disconnects = [];
    private readonly List<(Func<bool> Done, TaskCompletionSource Tcs)> _waiters = [];

    public IReadOnlyList<UserMessage> Messages
    {
        get
        {
            lock (_lock)
            {
                return [.. _messages];
            }
        }
    }

    public IReadOnlyList<UserDisconnect> Disconnects
    {
        get
        {
            lock (_lock)
            {
                return [.. _disconnects];
            }
        }
    }

    public void OnMessage(UserMessage message) => Record(() => _messages.Add(message));

    public void OnDisconnect(UserDisconnect disconnect) => Record(() => _disconnects.Add(disconnect));

    public Task WaitForMessagesAsync(int count) => WaitAsync(() => _messages.Count >= count);

    public Task WaitForDisconnectsAsync(int count) => WaitAsync(() => _disconnects.Count >= count);

    private Task WaitAsync(Func<bool> done)
    {
        lock (_lock)
        {
            if (done())
            {
                return Task.CompletedTask;
            }

            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((done, tcs));
            return tcs.Task.DefaultTimeout();
        }
    }

    private void Record(Action add)
    {
        lock (_lock)
        {
            add();
            _waiters.RemoveAll(w =>
            {
                if (!w.Done())
                {
                    return false;
                }

                w.Tcs.TrySetResult();
                return true;
            });
        }
    }
}
