using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using System.Threading.Channels;
using Lifeline.Protocol;
using Lifeline.Server.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary><see cref="SendQueue"/> on a transport that records its frames: packing, reserved places, closing, overflow.</summary>
public sealed class SendQueueTests
{
    [Fact]
    public async Task Messages_queued_behind_a_reserved_place_wait_until_it_is_filled_then_go_out_after_it()
    {
        var (queue, frames) = Create();
        Assert.Equal(EnqueueResult.Queued, queue.Reserve(out var slot));
        Assert.Equal(EnqueueResult.Queued, queue.Enqueue(Bytes("delta")));

        Assert.False(frames.Reader.TryRead(out _)); // nothing passes the unfilled place (the writer has yielded by now or will stop before it)
        queue.Fill(slot!, Bytes("reply"));

        Assert.Equal(["reply", "delta"], await ReadMessagesAsync(frames, 2));
    }

    [Fact]
    public async Task A_place_filled_with_nothing_is_skipped()
    {
        var (queue, frames) = Create();
        queue.Enqueue(Bytes("a"));
        queue.Reserve(out var slot);
        queue.Enqueue(Bytes("b"));
        queue.Fill(slot!, ReadOnlyMemory<byte>.Empty);

        Assert.Equal(["a", "b"], await ReadMessagesAsync(frames, 2));
        Assert.Equal(0, queue.Depth);
    }

    [Fact]
    public void Overflow_closes_the_queue_and_later_messages_are_refused()
    {
        var (queue, _) = Create(limit: 2, blockSends: true);
        Assert.Equal(EnqueueResult.Queued, queue.Enqueue(Bytes("1")));
        Assert.Equal(EnqueueResult.Queued, queue.Enqueue(Bytes("2")));
        var third = queue.Enqueue(Bytes("3"));
        var fourth = queue.Enqueue(Bytes("4"));

        // The writer may already have taken the first message: the third or the fourth overflows, and after it nothing is queued.
        Assert.Contains(EnqueueResult.Overflow, new[] { third, fourth });
        Assert.Equal(EnqueueResult.Closed, queue.Enqueue(Bytes("5")));
        Assert.Equal(EnqueueResult.Closed, queue.Reserve(out var slot));
        Assert.Null(slot);
    }

    /// <summary>
    /// PROTOCOL.md "emit / event": "a connection whose send queue is over half full drops events". Exactly half full is
    /// not over half: the event is queued; from the first message beyond half it is dropped, and the queue stays open.
    /// </summary>
    [Theory]
    [InlineData(16, 8)]
    [InlineData(8192, 4096)]
    [InlineData(5, 2)] // 2 of 5 is not over half, 3 of 5 is
    public void An_event_is_queued_while_the_send_queue_is_not_over_half_full_and_dropped_once_it_is(int limit, int mostNotOverHalf)
    {
        var (queue, _) = Create(limit, blockSends: true);
        var bound = Lifeline.Server.Connections.Connection.EventBound(limit);

        // An unfilled reserved place at the head holds the writer back: everything queued behind it keeps waiting.
        Assert.Equal(EnqueueResult.Queued, queue.Reserve(out _));
        for (var i = 1; i < mostNotOverHalf; i++)
        {
            Assert.Equal(EnqueueResult.Queued, queue.Enqueue(Bytes($"delta {i}")));
        }

        Assert.Equal(mostNotOverHalf, queue.Depth);
        Assert.False(2 * queue.Depth > limit);
        Assert.Equal(EnqueueResult.Queued, queue.Offer(Bytes("event 1"), bound));

        Assert.True(2 * queue.Depth > limit); // now over half full
        Assert.Equal(EnqueueResult.Dropped, queue.Offer(Bytes("event 2"), bound));
        Assert.Equal(mostNotOverHalf + 1, queue.Depth);
        Assert.Equal(EnqueueResult.Queued, queue.Enqueue(Bytes("a delta still goes in")));
    }

    [Fact]
    public void A_closed_queue_drops_what_it_held()
    {
        var (queue, _) = Create(blockSends: true);
        queue.Enqueue(Bytes("1"));
        queue.Enqueue(Bytes("2"));
        queue.Close();
        Assert.Equal(0, queue.Depth);
        Assert.Equal(EnqueueResult.Closed, queue.Enqueue(Bytes("3")));
    }

    [Fact]
    public void A_message_offered_to_an_idle_queue_is_written_on_the_callers_thread()
    {
        var (queue, frames) = Create();
        Assert.Equal(EnqueueResult.Queued, queue.EnqueueOrWrite(Bytes("ping")));

        // Written before EnqueueOrWrite returned: no writer task was needed.
        Assert.True(frames.Reader.TryRead(out var frame));
        Assert.Equal("ping", frame);
        Assert.Equal(0, queue.Depth);
    }

    [Fact]
    public async Task A_message_offered_while_something_waits_goes_out_behind_it()
    {
        var (queue, frames) = Create();
        queue.Reserve(out var slot);
        Assert.Equal(EnqueueResult.Queued, queue.EnqueueOrWrite(Bytes("ping")));
        Assert.False(frames.Reader.TryRead(out _)); // never ahead of the reserved reply
        queue.Fill(slot!, Bytes("reply"));

        Assert.Equal(["reply", "ping"], await ReadMessagesAsync(frames, 2));
    }

    [Fact]
    public async Task Messages_queued_while_an_inline_write_is_pending_follow_it_one_send_at_a_time()
    {
        var transport = new GatedTransport();
        var queue = new SendQueue(transport, new LifelineOptions(), Metrics(), TimeProvider.System, new IgnoreFailures());
        Assert.Equal(EnqueueResult.Queued, queue.EnqueueOrWrite(Bytes("ping")));
        Assert.Equal(["ping"], transport.Frames);

        queue.Enqueue(Bytes("a"));
        queue.Enqueue(Bytes("b"));
        Assert.Equal(["ping"], transport.Frames); // the pending inline write is the writer: nothing overtakes or interleaves
        Assert.Equal(EnqueueResult.Queued, queue.EnqueueOrWrite(Bytes("ping2")));
        Assert.Equal(3, queue.Depth);

        transport.CompleteNext();
        Assert.Equal("a\nb\nping2", await transport.Sent.Reader.ReadAsync().AsTask().WaitAsync(TestTimeouts.Default));
        Assert.Equal(["ping", "a\nb\nping2"], transport.Frames);
        transport.CompleteNext();
        Assert.Equal(1, transport.MaxConcurrentSends);
    }

    [Fact]
    public async Task A_failed_inline_write_is_reported_to_the_owner_off_the_callers_thread()
    {
        var failures = new RecordFailures();
        var transport = new GatedTransport { Fail = true };
        var queue = new SendQueue(transport, new LifelineOptions(), Metrics(), TimeProvider.System, failures);
        RecordFailures.InsideCall.Value = true;
        try
        {
            Assert.Equal(EnqueueResult.Queued, queue.EnqueueOrWrite(Bytes("ping")));
        }
        finally
        {
            RecordFailures.InsideCall.Value = false;
        }

        var (error, duringCall) = await failures.First.Task.WaitAsync(TestTimeouts.Default);
        Assert.IsType<IOException>(error);
        Assert.False(duringCall); // not run by EnqueueOrWrite's caller (the sweep) before it returned
    }

    private static LifelineMetrics Metrics() =>
        new(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>());

    private static ReadOnlyMemory<byte> Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private static async Task<List<string>> ReadMessagesAsync(Channel<string> frames, int count)
    {
        var messages = new List<string>();
        while (messages.Count < count)
        {
            var frame = await frames.Reader.ReadAsync().AsTask().WaitAsync(TestTimeouts.Default);
            messages.AddRange(frame.Split('\n'));
        }

        return messages;
    }

    private static (SendQueue Queue, Channel<string> Frames) Create(int limit = 100, bool blockSends = false)
    {
        var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new LifelineMetrics(services.GetRequiredService<IMeterFactory>());
        var options = new LifelineOptions { SendQueueLimit = limit };
        var frames = Channel.CreateUnbounded<string>();
        var transport = new RecordingTransport(frames, blockSends);
        return (new SendQueue(transport, options, metrics, TimeProvider.System, new IgnoreFailures()), frames);
    }

    private sealed class IgnoreFailures : ISendFailureHandler
    {
        public void OnSendFailed(Exception error)
        {
        }
    }

    private sealed class RecordFailures : ISendFailureHandler
    {
        /// <summary>True on the test's thread while it is inside the call under test.</summary>
        public static ThreadLocal<bool> InsideCall { get; } = new();

        public TaskCompletionSource<(Exception Error, bool DuringCall)> First { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnSendFailed(Exception error) => First.TrySetResult((error, InsideCall.Value));
    }

    /// <summary>Records each frame; each send stays pending until the test completes it (or fails at once with <c>Fail</c>).</summary>
    private sealed class GatedTransport : IConnectionTransport
    {
        private readonly Queue<TaskCompletionSource> _pending = new();
        private readonly List<string> _frames = [];
        private int _inFlight;

        public bool Fail { get; init; }

        public Microsoft.AspNetCore.Http.HttpContext Request { get; } = new Microsoft.AspNetCore.Http.DefaultHttpContext();

        public int MaxConcurrentSends { get; private set; }

        /// <summary>Each frame as it is sent, after the first one (which the test reads from <see cref="Frames"/>).</summary>
        public Channel<string> Sent { get; } = Channel.CreateUnbounded<string>();

        public List<string> Frames
        {
            get
            {
                lock (_frames)
                {
                    return [.. _frames];
                }
            }
        }

        public IPEndPoint? RemoteEndPoint => null;

        public string Name => TransportNames.WebSocket;

        public WelcomeMessage Announce(WelcomeMessage welcome) => welcome;

        public ValueTask<TransportMessage> ReceiveAsync(int maxMessageSize) => new(TransportMessage.Of(TransportMessageKind.Ended));

        public ValueTask SendAsync(ReadOnlyMemory<byte> frame)
        {
            if (Fail)
            {
                return ValueTask.FromException(new IOException("reset"));
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_frames)
            {
                _frames.Add(Encoding.UTF8.GetString(frame.Span));
                if (_frames.Count > 1)
                {
                    Sent.Writer.TryWrite(_frames[^1]);
                }

                MaxConcurrentSends = Math.Max(MaxConcurrentSends, ++_inFlight);
                _pending.Enqueue(done);
            }

            return new ValueTask(done.Task);
        }

        public void CompleteNext()
        {
            TaskCompletionSource next;
            lock (_frames)
            {
                next = _pending.Dequeue();
                _inFlight--;
            }

            next.SetResult();
        }

        public Task<bool> CloseAsync(CloseCode code, TimeSpan bound) => Task.FromResult(false);

        public void Abort()
        {
        }
    }

    /// <summary>Records each frame; with <c>blockSends</c> a send never completes (a peer that stopped reading).</summary>
    private sealed class RecordingTransport(Channel<string> frames, bool blockSends) : IConnectionTransport
    {
        public IPEndPoint? RemoteEndPoint => null;

        public Microsoft.AspNetCore.Http.HttpContext Request { get; } = new Microsoft.AspNetCore.Http.DefaultHttpContext();

        public string Name => TransportNames.WebSocket;

        public WelcomeMessage Announce(WelcomeMessage welcome) => welcome;

        public ValueTask<TransportMessage> ReceiveAsync(int maxMessageSize) => new(TransportMessage.Of(TransportMessageKind.Ended));

        public ValueTask SendAsync(ReadOnlyMemory<byte> frame)
        {
            if (blockSends)
            {
                return new ValueTask(new TaskCompletionSource().Task);
            }

            frames.Writer.TryWrite(Encoding.UTF8.GetString(frame.Span));
            return ValueTask.CompletedTask;
        }

        public Task<bool> CloseAsync(CloseCode code, TimeSpan bound) => Task.FromResult(false);

        public void Abort()
        {
        }
    }
}
