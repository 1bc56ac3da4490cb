using Lifeline.Protocol;
using Lifeline.Server.Channels;

namespace Lifeline.Server.Tests;

/// <summary>
/// The per-connection and per-channel subscription structures (issue 20, subscribed idle memory): a channel's
/// <see cref="SubscriberSet"/> (appends without copying the whole set, snapshots stable for the fan-out) and a
/// connection's <see cref="InlineKeyedSet{T, TKeyOf}"/> of subscriptions and of presence channel names (the first channel inline).
/// </summary>
public sealed class SubscriberSetTests
{
    private static Subscription[] Subscriptions(int count, string channel = "room") =>
        [.. Enumerable.Range(0, count).Select(i => new Subscription(new NamedSubscriber("c" + i), channel))];

    private static string[] Ids(SubscriberSet.View view)
    {
        var ids = new List<string>();
        foreach (var s in view)
        {
            ids.Add(s.Subscriber.Id);
        }

        return [.. ids];
    }

    [Fact]
    public void Adds_and_removes_keep_insertion_order_and_count()
    {
        var set = new SubscriberSet();
        var subs = Subscriptions(10);
        foreach (var s in subs)
        {
            set.Add(s);
        }

        set.Remove(subs[0]);
        set.Remove(subs[5]);
        set.Remove(subs[9]);

        Assert.Equal(7, set.Count);
        Assert.Equal(["c1", "c2", "c3", "c4", "c6", "c7", "c8"], Ids(set.Snapshot));
    }

    [Fact]
    public void Removing_what_is_not_there_changes_nothing()
    {
        var set = new SubscriberSet();
        var subs = Subscriptions(3);
        set.Add(subs[0]);
        set.Add(subs[1]);

        set.Remove(subs[2]);
        set.Remove(subs[0]);
        set.Remove(subs[0]); // a second detach of the same subscription

        Assert.Equal(1, set.Count);
        Assert.Equal(["c1"], Ids(set.Snapshot));
    }

    [Fact]
    public void A_snapshot_does_not_see_later_additions_and_never_sees_a_subscriber_twice()
    {
        var set = new SubscriberSet();
        var subs = Subscriptions(100);
        for (var i = 0; i < 10; i++)
        {
            set.Add(subs[i]);
        }

        var before = set.Snapshot;

        // Appends past the snapshot, removals down to a compaction and further appends into the compacted array.
        for (var i = 10; i < 100; i++)
        {
            set.Add(subs[i]);
        }

        for (var i = 0; i < 90; i++)
        {
            set.Remove(subs[i]);
        }

        for (var i = 0; i < 5; i++)
        {
            set.Add(subs[i]);
        }

        var seen = Ids(before);
        Assert.Equal(seen.Length, seen.Distinct().Count());
        Assert.All(seen, id => Assert.Contains(id, Enumerable.Range(0, 10).Select(i => "c" + i)));
        Assert.Equal(10, before.Count); // the count when it was taken
        Assert.Equal(15, set.Count);
        Assert.Equal([.. Enumerable.Range(90, 10).Select(i => "c" + i), "c0", "c1", "c2", "c3", "c4"], Ids(set.Snapshot));
    }

    [Fact]
    public void Emptied_set_is_empty_and_takes_new_subscribers()
    {
        var set = new SubscriberSet();
        var subs = Subscriptions(2);
        set.Add(subs[0]);
        set.Remove(subs[0]);

        Assert.True(set.Snapshot.IsEmpty);
        Assert.Empty(Ids(set.Snapshot));

        set.Add(subs[1]);
        Assert.Equal(["c1"], Ids(set.Snapshot));
    }

    [Fact]
    public void IsOnly_is_true_only_for_the_single_subscriber()
    {
        var set = new SubscriberSet();
        var subs = Subscriptions(2);
        Assert.False(set.Snapshot.IsOnly("c0"));

        set.Add(subs[0]);
        Assert.True(set.Snapshot.IsOnly("c0"));
        Assert.False(set.Snapshot.IsOnly("c1"));
        Assert.False(set.Snapshot.IsOnly(null));

        set.Add(subs[1]);
        Assert.False(set.Snapshot.IsOnly("c0"));

        set.Remove(subs[0]);
        Assert.True(set.Snapshot.IsOnly("c1"));
    }

    [Fact]
    public async Task Concurrent_readers_see_each_subscriber_at_most_once_while_writers_churn()
    {
        var set = new SubscriberSet();
        var subs = Subscriptions(2_000);
        using var stop = new CancellationTokenSource();
        var duplicates = 0;
        var reads = 0;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reader = Task.Run(() =>
        {
            started.TrySetResult();
            while (!stop.IsCancellationRequested)
            {
                var seen = new HashSet<Subscription>();
                foreach (var s in set.Snapshot)
                {
                    if (!seen.Add(s))
                    {
                        Interlocked.Increment(ref duplicates);
                    }
                }

                Interlocked.Increment(ref reads);
            }
        });

        // At least 5 rounds, and until the reader has read the set a few times while it changed (bounded).
        await started.DefaultTimeout();
        for (var round = 0; round < 5 || (Volatile.Read(ref reads) < 20 && round < 2_000); round++)
        {
            foreach (var s in subs)
            {
                set.Add(s);
            }

            foreach (var s in Enumerable.Reverse(subs))
            {
                set.Remove(s);
            }
        }

        await stop.CancelAsync();
        await reader.DefaultTimeout();

        Assert.True(reads >= 20, $"only {reads} reads");
        Assert.Equal(0, duplicates);
        Assert.Equal(0, set.Count);
    }

    [Fact]
    public void InlineKeyedSet_of_subscriptions_holds_one_channel_inline_then_a_dictionary()
    {
        var slots = default(InlineKeyedSet<Subscription, ChannelOfSubscription>);
        var room = new Subscription(new NamedSubscriber("c"), "room");
        var lobby = new Subscription(new NamedSubscriber("c"), "lobby");
        var room2 = new Subscription(new NamedSubscriber("c"), "room");

        Assert.Equal(0, slots.Count);
        Assert.False(slots.Remove("room", out _));

        slots.Set(room);
        Assert.Equal(1, slots.Count);
        Assert.True(slots.ContainsKey("room"));
        Assert.False(slots.ContainsKey("lobby"));
        Assert.False(slots.Remove("lobby", out _));

        slots.Set(room2); // a resubscribe replaces
        Assert.Equal(1, slots.Count);
        slots.Set(lobby);
        Assert.Equal(2, slots.Count);
        Assert.Equal(["lobby", "room"], slots.Keys().Order());

        Assert.True(slots.Remove("room", out var removed));
        Assert.Same(room2, removed);
        Assert.Equal(["lobby"], slots.Keys());

        Assert.Equal([lobby], slots.TakeAll());
        Assert.Equal(0, slots.Count);
        Assert.Empty(slots.TakeAll());
    }

    [Fact]
    public void InlineKeyedSet_single_entry_removes_only_its_own_key()
    {
        var slots = default(InlineKeyedSet<Subscription, ChannelOfSubscription>);
        var room = new Subscription(new NamedSubscriber("c"), "room");
        slots.Set(room);

        Assert.True(slots.Remove("room", out var removed));
        Assert.Same(room, removed);
        Assert.Equal(0, slots.Count);
        Assert.Empty(slots.Keys());
    }

    [Fact]
    public void InlineKeyedSet_of_names_holds_one_name_inline_then_a_dictionary()
    {
        var names = default(InlineKeyedSet<string, ChannelName>);
        Assert.False(names.ContainsKey("a"));
        Assert.False(names.Remove("a", out _));

        names.Set("a");
        names.Set("a");
        Assert.True(names.ContainsKey("a"));
        Assert.False(names.ContainsKey("b"));
        Assert.False(names.Remove("b", out _));
        Assert.Equal(["a"], names.TakeAll());
        Assert.False(names.ContainsKey("a"));

        names.Set("a");
        names.Set("b");
        names.Set("c");
        Assert.True(names.Remove("b", out _));
        Assert.False(names.Remove("b", out _));
        Assert.Equal(["a", "c"], names.TakeAll().Order());
        Assert.Empty(names.TakeAll());
    }

    /// <summary>A subscriber that only has a name: the structures under test never queue anything.</summary>
    private sealed class NamedSubscriber(string id) : ISubscriber
    {
        public string Id { get; } = id;

        public CancellationToken Aborted => CancellationToken.None;

        public bool Enqueue(ReadOnlyMemory<byte> utf8, long publishedAt = 0) => throw new InvalidOperationException("not expected");

        public bool Enqueue(ServerMessage message) => throw new InvalidOperationException("not expected");

        public void EnqueueEvent(ReadOnlyMemory<byte> utf8) => throw new InvalidOperationException("not expected");

        public bool EnqueuePacked(IEnumerable<ServerMessage> messages) => throw new InvalidOperationException("not expected");

        public void Abort(CloseCode code, Exception? error) => throw new InvalidOperationException("not expected");

        public Lifeline.Server.Transport.SendBacklog Backlog => throw new InvalidOperationException("not expected");

        public Task? WhenDrained() => throw new InvalidOperationException("not expected");
    }
}
