using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Engine;
using Lifeline.Protocol;
using Lifeline.Server;
using Lifeline.Server.Connections;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Lifeline.Client.Tests.Integration;

/// <summary>Runs alone: it loads the machine, and other tests' timing must not suffer from it (nor it from them).</summary>
[CollectionDefinition(nameof(ConvergenceTests), DisableParallelization = true)]
public sealed class ConvergenceCollection;

/// <summary>
/// The proof of issue 3: a seeded convergence test. Ten clients (one user each, real server in process on loopback)
/// subscribe to three channels and publish to them while a seeded fault injector aborts random connections hundreds
/// of times, on the server side (teardown with a TCP reset, a reset under a live connection, a 1011/1013 close, all
/// connections at once) and on the client side (the client's socket aborted). Then the faults stop and, once every
/// client has caught up, the test checks that every client's state of every channel equals the server's, that the
/// offsets each client applied are consecutive within an epoch (never twice, never skipped), and that every publish
/// that completed was applied exactly once. Replay a failure with <c>LIFELINE_TEST_SEED=&lt;seed&gt;</c>.
/// </summary>
[Collection(nameof(ConvergenceTests))]
public sealed class ConvergenceTests(ITestOutputHelper output)
{
    private const int DefaultSeed = 20251128;
    private const int ClientCount = 10;
    private const int ChannelCount = 3;

    /// <summary>The injector stops after this many faults (or <see cref="ChaosTimeLimit"/>).</summary>
    private const int FaultTarget = 400;

    /// <summary>The test fails if the time limit left fewer than this many.</summary>
    private const int MinimumFaults = 300;

    /// <summary>A client publishes at most this many patches (bounds the state's size and the test's work).</summary>
    private const int MaxPublishesPerClient = 600;

    /// <summary>A client has at most this many publishes waiting for their acknowledgement at once.</summary>
    private const int MaxInFlightPerClient = 4;

    /// <summary>Small, so that clients that were away for a while recover with a snapshot rather than deltas.</summary>
    private const int HistorySize = 8;

    private static readonly TimeSpan ChaosTimeLimit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TenClients_UnderHundredsOfSeededFaults_ConvergeOnTheServersState_AndApplyEveryPublishExactlyOnce()
    {
        var seed = Environment.GetEnvironmentVariable("LIFELINE_TEST_SEED") is { Length: > 0 } text
            ? int.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture)
            : DefaultSeed;
        output.WriteLine($"seed {seed} (replay: LIFELINE_TEST_SEED={seed} dotnet test tests/Lifeline.Client.Tests --filter ConvergenceTests)");
        var total = Stopwatch.StartNew();

        await using var server = await StartServerAsync();
        var channels = Enumerable.Range(0, ChannelCount).Select(c => $"conv:{c}").ToArray();
        var members = new List<Member>();
        try
        {
            // 1. Ten clients, one user each, subscribed to every channel.
            for (var i = 0; i < ClientCount; i++)
            {
                members.Add(new Member(i, server.Url, channels, seed));
            }

            await Task.WhenAll(members.Select(m => m.Client.ConnectAsync())).WaitAsync(TestTimeouts.Default);
            await Task.WhenAll(members.SelectMany(m => m.Channels).Select(c => c.SubscribeAsync())).WaitAsync(TestTimeouts.Default);

            // 2. Chaos: everyone publishes while the injector aborts connections.
            var chaos = Stopwatch.StartNew();
            using var stopPublishing = new CancellationTokenSource();
            var publishers = members.Select(m => Task.Run(() => m.PublishLoopAsync(stopPublishing.Token))).ToList();
            var faults = await InjectFaultsAsync(new Random(seed), server, members);
            await stopPublishing.CancelAsync();
            var chaosElapsed = chaos.Elapsed;

            // 3. Settle: every publish acknowledged (the clients reconnect by themselves), then every client caught up.
            var settle = Stopwatch.StartNew();
            var deadline = DateTime.UtcNow + SettleTimeout;
            await AwaitOrExplainAsync(Task.WhenAll(publishers), deadline, "publishes still waiting for acknowledgement", members);
            var snapshots = new Dictionary<string, ChannelSnapshot>(StringComparer.Ordinal);
            foreach (var channel in channels)
            {
                snapshots[channel] = await server.Lifeline.GetChannelAsync(channel);
            }

            await AwaitOrExplainAsync(
                Task.WhenAll(members.SelectMany(m => m.Channels).Select(c => WaitForPositionAsync(c, new Position(snapshots[c.Name].Epoch, snapshots[c.Name].Offset)))),
                deadline,
                "clients that did not catch up with the server",
                members);

            // Presence: a presence request is answered after every earlier request of that connection (the server
            // handles one connection's messages in order), so once every client got an answer, every one of its
            // subscriptions has registered its membership.
            foreach (var channel in members.SelectMany(m => m.Channels))
            {
                await GetPresenceWithRetryAsync(channel, deadline);
            }

            var settleElapsed = settle.Elapsed;

            // 4. Report, then check.
            var publishes = members.Sum(m => m.Successes.Count);
            output.WriteLine(
                $"faults injected {faults.Total} in {chaosElapsed.TotalSeconds:F1} s: client aborts {faults.ClientAborts}, server resets {faults.ServerResets}, " +
                $"transport resets {faults.TransportResets}, server closes 1011/1013 {faults.ServerCloses}, all-connection bursts {faults.Bursts}");
            output.WriteLine(
                $"publishes {publishes} acknowledged ({members.Sum(m => m.Failures.Count)} failed); reconnects {members.Sum(m => m.Reconnects)} " +
                $"(resumed {members.Sum(m => m.Resumes)}, longest away {members.Max(m => m.LongestAwayMs)} ms); snapshots applied {members.Sum(m => m.SnapshotCount)} ({ClientCount * ChannelCount} of them initial), deltas applied {members.Sum(m => m.DeltaCount)}; " +
                $"presence leaves seen {members.Sum(m => m.Leaves)}");
            output.WriteLine(
                $"channel offsets {string.Join(", ", channels.Select(c => $"{c}={snapshots[c].Offset}"))}; settle {settleElapsed.TotalSeconds:F1} s; " +
                $"client warnings [{string.Join(", ", members.SelectMany(m => m.Logs.Counts).GroupBy(kv => kv.Key).Select(g => $"{g.Key}={g.Sum(kv => kv.Value)}"))}]; " +
                $"server warnings [{string.Join(", ", server.Logs.CountsAtOrAbove(LogLevel.Warning).Select(kv => $"{kv.Key}={kv.Value}"))}]");

            Assert.True(faults.Total >= MinimumFaults, $"only {faults.Total} faults were injected within {ChaosTimeLimit}; at least {MinimumFaults} are required");
            Assert.True(faults.ClientAborts > 0 && faults.ServerResets + faults.TransportResets > 0, "faults must hit both sides");
            var failures = members.SelectMany(m => m.Failures).ToList();
            Assert.True(failures.Count == 0, $"{failures.Count} publishes failed:\n{string.Join('\n', failures.Take(3))}");
            Assert.All(members, m => Assert.Equal(0, m.Client.PendingPublishCount));

            // Resume must work: every reconnect of an authenticated user within the resume window resumes its session.
            Assert.Equal(members.Sum(m => m.Reconnects), members.Sum(m => m.Resumes));

            // Presence: every disconnection here is far shorter than the grace period and every session resumed, so no
            // leave may have been broadcast (PROTOCOL.md: never for a resumed user).
            Assert.Equal(0, members.Sum(m => m.Leaves));

            // Every client's state of every channel equals the server's, at the server's position.
            foreach (var m in members)
            {
                foreach (var channel in m.Channels)
                {
                    var snapshot = snapshots[channel.Name];
                    Assert.Equal(new Position(snapshot.Epoch, snapshot.Offset), channel.Position);
                    var mine = JsonNode.Parse(channel.GetState().GetRawText());
                    var theirs = JsonNode.Parse(snapshot.State.GetRawText());
                    Assert.True(JsonNode.DeepEquals(theirs, mine), $"{m.User} {channel.Name}: client state differs from the server's");
                }
            }

            // Offsets applied through Changed: a snapshot first; after it, each delta is the previous offset + 1 in the
            // same epoch (never twice, never skipped); a later snapshot never goes back within an epoch.
            foreach (var m in members)
            {
                for (var c = 0; c < ChannelCount; c++)
                {
                    CheckAppliedSequence(m.User, channels[c], m.Applied[c].Snapshot());
                }
            }

            // The delta at an offset is the same for everyone, and it is the publish the server acknowledged with that offset.
            var markerAt = new Dictionary<(string Channel, string Epoch, long Offset), string?>();
            foreach (var m in members)
            {
                for (var c = 0; c < ChannelCount; c++)
                {
                    foreach (var a in m.Applied[c].Snapshot().Where(a => !a.IsSnapshot))
                    {
                        var key = (channels[c], a.Epoch, a.Offset);
                        if (markerAt.TryGetValue(key, out var seen))
                        {
                            Assert.True(seen == a.Marker, $"{m.User} {channels[c]} offset {a.Offset}: delta {a.Marker}, others saw {seen}");
                        }
                        else
                        {
                            markerAt[key] = a.Marker;
                        }
                    }
                }
            }

            // Exactly once: every acknowledged publish is in the final state, offsets are distinct, and the channel's
            // offset equals the number of distinct markers (a re-application would advance it without a new marker).
            foreach (var channel in channels)
            {
                var snapshot = snapshots[channel];
                var log = snapshot.State.TryGetProperty("log", out var l) ? l : default;
                var markers = log.ValueKind == JsonValueKind.Object ? log.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal) : [];
                var acknowledged = members.SelectMany(m => m.Successes).Where(s => s.Channel == channel).ToList();
                var missing = acknowledged.Where(s => !markers.Contains(s.Marker)).Select(s => s.Marker).ToList();
                Assert.True(missing.Count == 0, $"{channel}: acknowledged publishes missing from the state: {string.Join(", ", missing.Take(20))}");
                var sharedOffsets = acknowledged.GroupBy(s => s.Offset).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join("/", g.Select(s => s.Marker))}").ToList();
                Assert.True(sharedOffsets.Count == 0, $"{channel}: two publishes acknowledged with the same offset: {string.Join("; ", sharedOffsets.Take(10))}");
                Assert.True(markers.Count == snapshot.Offset, $"{channel}: offset {snapshot.Offset} but {markers.Count} distinct markers: a patch was applied more than once");
                Assert.Equal(acknowledged.Count, markers.Count);
                foreach (var s in acknowledged)
                {
                    if (markerAt.TryGetValue((channel, snapshot.Epoch, s.Offset), out var marker))
                    {
                        Assert.True(marker == s.Marker, $"{channel}: {s.Marker} was acknowledged with offset {s.Offset}, whose delta is {marker}");
                    }
                }

                var present = await server.Lifeline.GetPresenceAsync(channel);
                Assert.Equal(members.Select(m => m.User).Order(StringComparer.Ordinal), present.Order(StringComparer.Ordinal));
            }

            // 5. The server is clean once every client is gone.
            foreach (var m in members)
            {
                await m.Client.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Default);
            }

            await server.WaitForNoConnectionsAsync().WaitAsync(TestTimeouts.Default);
            Assert.Equal(0, server.Lifeline.ConnectionCount);
            Assert.Equal(0, server.Lifeline.ScheduledCount);
            Assert.Equal(0, server.Runtime.Hub.ChannelCount);
            Assert.Equal(0, server.Runtime.Presence.MembershipCount);

            var clientErrors = members.SelectMany(m => m.Logs.Errors).ToList();
            Assert.True(clientErrors.Count == 0, "client error logs:\n" + string.Join('\n', clientErrors.Take(10)));
            Assert.True(server.Logs.UnexpectedErrors().Count == 0, "server error logs:\n" + string.Join('\n', server.Logs.UnexpectedErrors().Take(10)));
            output.WriteLine($"total {total.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            foreach (var m in members)
            {
                await m.Client.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Default);
            }
        }
    }

    private static void CheckAppliedSequence(string user, string channel, IReadOnlyList<Applied> applied)
    {
        Assert.True(applied.Count > 0, $"{user} {channel}: nothing was applied");
        Assert.True(applied[0].IsSnapshot, $"{user} {channel}: the first change was a delta at {applied[0].Offset}, not a snapshot");
        for (var i = 1; i < applied.Count; i++)
        {
            var previous = applied[i - 1];
            var current = applied[i];
            var where = $"{user} {channel} change #{i}: {Describe(previous)} then {Describe(current)}";
            if (current.IsSnapshot)
            {
                Assert.True(current.Epoch != previous.Epoch || current.Offset >= previous.Offset, $"{where}: the snapshot went back");
            }
            else
            {
                Assert.True(current.Epoch == previous.Epoch, $"{where}: a delta of another epoch without a snapshot");
                Assert.True(current.Offset > previous.Offset, $"{where}: applied twice (or out of order)");
                Assert.True(current.Offset == previous.Offset + 1, $"{where}: offsets skipped");
            }
        }

        static string Describe(Applied a) => $"{(a.IsSnapshot ? "snapshot" : "delta")} {a.Epoch}:{a.Offset}";
    }

    /// <summary>Aborts random connections until <see cref="FaultTarget"/> faults or <see cref="ChaosTimeLimit"/>.</summary>
    private static async Task<FaultStats> InjectFaultsAsync(Random random, TestServer server, IReadOnlyList<Member> members)
    {
        var stats = new FaultStats();
        var clock = Stopwatch.StartNew();
        while (stats.Total < FaultTarget && clock.Elapsed < ChaosTimeLimit)
        {
            await Task.Delay(random.Next(5, 40));
            var roll = random.Next(100);
            if (roll < 45)
            {
                // Client side: the client's socket fails under it (the client sees a lost connection, 1006).
                if (members[random.Next(members.Count)].Client.AbortConnectionForTest())
                {
                    stats.ClientAborts++;
                }

                continue;
            }

            // Server side: a random registered connection (sorted so that the seed picks the same rank each time).
            var connections = server.Runtime.Registry.All.OrderBy(c => c.UserId, StringComparer.Ordinal).ThenBy(c => c.Id, StringComparer.Ordinal).ToList();
            if (connections.Count == 0)
            {
                continue;
            }

            if (roll < 48)
            {
                // Everyone at once: a resume and resubscribe storm.
                foreach (var c in connections)
                {
                    c.StartTeardown(CloseCode.Abnormal, DisconnectInitiator.Server);
                }

                stats.ServerResets += connections.Count;
                stats.Bursts++;
                continue;
            }

            var target = connections[random.Next(connections.Count)];
            if (roll < 75)
            {
                // The one teardown path with 1006: no close handshake, TCP reset.
                target.StartTeardown(CloseCode.Abnormal, DisconnectInitiator.Server);
                stats.ServerResets++;
            }
            else if (roll < 90)
            {
                // The network fails under a live connection: the server's loops notice, then tear down.
                target.AbortTransport();
                stats.TransportResets++;
            }
            else
            {
                // A close frame the client must reconnect after, with backoff.
                target.StartTeardown(random.Next(2) == 0 ? CloseCode.InternalError : CloseCode.TryAgainLater, DisconnectInitiator.Server);
                stats.ServerCloses++;
            }
        }

        return stats;
    }

    private static async Task WaitForPositionAsync(LifelineChannel channel, Position target)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(object? sender, ChannelChangedEventArgs e)
        {
            if (IsAtOrPast(channel.Position, target))
            {
                reached.TrySetResult();
            }
        }

        channel.Changed += OnChanged;
        try
        {
            if (!IsAtOrPast(channel.Position, target))
            {
                await reached.Task;
            }
        }
        finally
        {
            channel.Changed -= OnChanged;
        }

        static bool IsAtOrPast(Position? position, Position target) => position is not null && position.Epoch == target.Epoch && position.Offset >= target.Offset;
    }

    private static async Task GetPresenceWithRetryAsync(LifelineChannel channel, DateTime deadline)
    {
        while (true)
        {
            try
            {
                await channel.GetPresenceAsync().WaitAsync(Remaining(deadline));
                return;
            }
            catch (LifelineDisconnectedException) when (DateTime.UtcNow < deadline)
            {
                // A heartbeat timeout on a loaded machine: wait for the next connection and ask again.
                await WaitForOpenAsync(channel.Client).WaitAsync(Remaining(deadline));
            }
        }
    }

    private static async Task WaitForOpenAsync(LifelineClient client)
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(object? sender, StateChangedEventArgs e)
        {
            if (e.NewState == ClientState.Open)
            {
                open.TrySetResult();
            }
        }

        client.StateChanged += OnChanged;
        try
        {
            if (client.State != ClientState.Open || client.ReadyConnection is null)
            {
                await open.Task;
            }
        }
        finally
        {
            client.StateChanged -= OnChanged;
        }
    }

    private static TimeSpan Remaining(DateTime deadline) => deadline - DateTime.UtcNow is { Ticks: > 0 } left ? left : TimeSpan.Zero;

    private async Task AwaitOrExplainAsync(Task task, DateTime deadline, string what, IReadOnlyList<Member> members)
    {
        try
        {
            await task.WaitAsync(Remaining(deadline));
        }
        catch (TimeoutException)
        {
            var report = new StringBuilder($"timed out: {what}\n");
            foreach (var m in members)
            {
                report.Append(CultureInfo.InvariantCulture, $"  {m.User}: {m.Client.State}, pending publishes {m.Client.PendingPublishCount}, ");
                report.AppendJoin(", ", m.Channels.Select(c => c.ToString()));
                report.Append('\n');
            }

            output.WriteLine(report.ToString());
            Assert.Fail(report.ToString());
        }
    }

    private sealed class FaultStats
    {
        public int ClientAborts { get; set; }

        public int ServerResets { get; set; }

        public int TransportResets { get; set; }

        public int ServerCloses { get; set; }

        public int Bursts { get; set; }

        public int Total => ClientAborts + ServerResets + TransportResets + ServerCloses;
    }

    /// <summary>One change applied through <see cref="LifelineChannel.Changed"/>; <see cref="Marker"/> is the delta's <c>last</c>.</summary>
    private sealed record Applied(string Epoch, long Offset, bool IsSnapshot, string? Marker);

    private sealed record Success(string Channel, string Marker, long Offset);

    /// <summary>Everything a client applied to one channel, in order (Changed runs on the client's message loop).</summary>
    private sealed class AppliedLog
    {
        private readonly Lock _gate = new();
        private readonly List<Applied> _entries = [];

        public void Add(Applied applied)
        {
            lock (_gate)
            {
                _entries.Add(applied);
            }
        }

        public List<Applied> Snapshot()
        {
            lock (_gate)
            {
                return [.. _entries];
            }
        }
    }

    /// <summary>One client, its user, its channels, what it applied and what it published.</summary>
    private sealed class Member
    {
        private readonly Random _random;
        private int _reconnects;
        private int _resumes;
        private int _leaves;
        private long _lostAtMs;

        public Member(int index, Uri url, string[] channels, int seed)
        {
            User = $"u{index}";
            _random = new Random(unchecked((seed * 31) + index));
            Logs = new WarningCollector();
            Client = new LifelineClient(
                url,
                new LifelineClientOptions
                {
                    Token = User,
                    ReconnectPolicy = new ExponentialBackoffRetryPolicy
                    {
                        BaseDelay = TimeSpan.FromMilliseconds(10),
                        MaxDelay = TimeSpan.FromMilliseconds(100),
                        Random = new Random(unchecked((seed * 31) + index + 1000)),
                    },
                },
                Logs);
            Client.StateChanged += (_, e) =>
            {
                // Raised in order, one at a time per client.
                if (e.NewState == ClientState.Reconnecting)
                {
                    _lostAtMs = e.TimestampMs;
                }

                if (e.OldState == ClientState.Reconnecting && e.NewState == ClientState.Open)
                {
                    LongestAwayMs = Math.Max(LongestAwayMs, e.TimestampMs - _lostAtMs);
                    Interlocked.Increment(ref _reconnects);
                    if (e.Reason == "resumed")
                    {
                        Interlocked.Increment(ref _resumes);
                    }
                }
            };
            Channels = [.. channels.Select(Client.Channel)];
            Applied = [.. channels.Select(_ => new AppliedLog())];
            for (var c = 0; c < Channels.Length; c++)
            {
                var log = Applied[c];
                Channels[c].Changed += (_, e) =>
                {
                    var marker = e.Patch is { } patch && patch.TryGetProperty("last", out var last) ? last.GetString() : null;
                    log.Add(new Applied(e.Epoch, e.Offset, e.IsSnapshot, marker));
                };
                Channels[c].Presence += (_, e) =>
                {
                    if (!e.IsJoin)
                    {
                        Interlocked.Increment(ref _leaves);
                    }
                };
            }
        }

        public string User { get; }

        public LifelineClient Client { get; }

        public LifelineChannel[] Channels { get; }

        public AppliedLog[] Applied { get; }

        public WarningCollector Logs { get; }

        public ConcurrentQueue<Success> Successes { get; } = new();

        public ConcurrentQueue<string> Failures { get; } = new();

        public int Reconnects => Volatile.Read(ref _reconnects);

        public int Resumes => Volatile.Read(ref _resumes);

        public int Leaves => Volatile.Read(ref _leaves);

        /// <summary>The longest time from losing a connection to being open again.</summary>
        public long LongestAwayMs { get; private set; }

        public int SnapshotCount => Applied.Sum(a => a.Snapshot().Count(e => e.IsSnapshot));

        public int DeltaCount => Applied.Sum(a => a.Snapshot().Count(e => !e.IsSnapshot));

        /// <summary>Publishes with a unique marker each, a few in flight at a time, until stopped; then awaits them all.</summary>
        public async Task PublishLoopAsync(CancellationToken stop)
        {
            var inFlight = new List<Task>();
            for (var seq = 1; seq <= MaxPublishesPerClient && !stop.IsCancellationRequested; seq++)
            {
                var c = _random.Next(Channels.Length);
                var marker = $"{User}-{seq}";
                var patch = new JsonObject
                {
                    ["log"] = new JsonObject { [marker] = 1 },
                    ["last"] = marker,
                    [$"seq:{User}"] = seq,
                };

                // Some patches also add or delete a nested member (merge patch null), so deletions converge too.
                var roll = _random.Next(10);
                if (roll < 2)
                {
                    patch["scratch"] = new JsonObject { [User] = new JsonObject { ["v"] = seq } };
                }
                else if (roll < 3)
                {
                    patch["scratch"] = new JsonObject { [User] = null };
                }

                inFlight.Add(PublishOneAsync(Channels[c], marker, patch));
                if (inFlight.Count >= MaxInFlightPerClient)
                {
                    inFlight.Remove(await Task.WhenAny(inFlight));
                }

                try
                {
                    await Task.Delay(_random.Next(5, 30), stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            await Task.WhenAll(inFlight);
        }

        private async Task PublishOneAsync(LifelineChannel channel, string marker, JsonObject patch)
        {
            try
            {
                var offset = await channel.PublishAsync(patch);
                Successes.Enqueue(new Success(channel.Name, marker, offset));
            }
            catch (Exception ex)
            {
                Failures.Enqueue($"{marker} on {channel.Name}: {ex}");
            }
        }
    }

    /// <summary>Counts warnings by event name and keeps errors: the clients' logger (the server's log is the kit's).</summary>
    private sealed class WarningCollector : ILogger<LifelineClient>
    {
        private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

        public ConcurrentQueue<string> Errors { get; } = new();

        public IReadOnlyDictionary<string, int> Counts => _counts;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            _counts.AddOrUpdate(eventId.Name ?? eventId.Id.ToString(CultureInfo.InvariantCulture), 1, static (_, n) => n + 1);
            if (logLevel >= LogLevel.Error)
            {
                Errors.Enqueue($"{logLevel} {eventId.Name}: {formatter(state, exception)} {exception}");
            }
        }

    }

    /// <summary>The real server on 127.0.0.1:0 with the test authenticator (token = user id), a short heartbeat and a short history.</summary>
    private static Task<TestServer> StartServerAsync() => TestServer.StartAsync(
        o =>
        {
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
            o.HeartbeatTimeout = TimeSpan.FromMilliseconds(500);
            o.ShutdownRetrySpread = TimeSpan.FromMilliseconds(100);
            o.DrainTimeout = TimeSpan.FromSeconds(2);
        },
        s => s.Configure<MemoryEngineOptions>(o => o.HistorySize = HistorySize),
        authenticator: new TokenIsUserAuthenticator(),
        minimumLevel: LogLevel.Warning);
}
