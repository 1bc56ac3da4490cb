using System.IO.Pipelines;
using System.Text.Json.Nodes;
using Lifeline.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Client.Tests.Integration;

/// <summary>Shared pieces of the HTTP-transport tests: convergence, and a server behind WebSocket-hostile middleware.</summary>
internal static class HttpTestHelpers
{
    public static async Task AssertConvergedAsync(LifelineServer server, LifelineChannel channel)
    {
        var expected = await server.GetChannelAsync(channel.Name);
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (channel.Position != new Lifeline.Protocol.Position(expected.Epoch, expected.Offset) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
            expected = await server.GetChannelAsync(channel.Name);
        }

        Assert.Equal(new Lifeline.Protocol.Position(expected.Epoch, expected.Offset), channel.Position);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected.State.GetRawText()), JsonNode.Parse(channel.GetState().GetRawText())), $"client {channel.GetState()} != server {expected.State}");
    }
}

/// <summary>
/// A real Lifeline server behind middleware that behaves like a WebSocket-hostile proxy: with <see cref="StripUpgrade"/>
/// it removes <c>Upgrade</c> and <c>Connection</c> from the request (as a proxy that does not forward them), so the
/// upgrade is refused with an HTTP status; with <see cref="BufferHttp"/> it holds every HTTP-transport response body
/// until the response ends (as a proxy with <c>proxy_buffering on</c>): the headers pass, the events do not; with
/// <see cref="HoldHead"/> as well the response head waits too (as nginx with gzip on <c>text/event-stream</c>).
/// </summary>
internal sealed class HostileProxyServer : IAsyncDisposable
{
    private readonly TestKestrel _kestrel;

    private HostileProxyServer(TestKestrel kestrel, TestLogSink logs)
    {
        _kestrel = kestrel;
        Logs = logs;
    }

    public volatile bool StripUpgrade;

    /// <summary>Accepts the upgrade itself and then says nothing (a middlebox that lets the upgrade through but not the messages).</summary>
    public volatile bool SilentUpgrade;

    /// <summary>Answers upgrade requests 503 with <c>Retry-After: 1</c>, as the server does while draining.</summary>
    public volatile bool BusyUpgrade;
    public volatile bool BufferHttp;

    /// <summary>With <see cref="BufferHttp"/>: the response head is held with the body, until the response ends.</summary>
    public volatile bool HoldHead;

    public TestLogSink Logs { get; }

    public Uri Url => _kestrel.WebSocketUri();

    public int Port => _kestrel.Port;

    public LifelineServer Lifeline => _kestrel.Services.GetRequiredService<LifelineServer>();

    /// <summary>How many WebSocket upgrade requests arrived (refused or not).</summary>
    public int UpgradeRequests;

    /// <summary>Runs for every upgrade request as it arrives (tests record the client's fake time with it).</summary>
    public Action? OnUpgradeRequest;

    public static async Task<HostileProxyServer> StartAsync(bool stripUpgrade, bool bufferHttp, int port = 0, bool silentUpgrade = false, bool holdHead = false)
    {
        var logs = new TestLogSink();
        HostileProxyServer? server = null;
        var kestrel = await TestKestrel.StartAsync(
            builder =>
            {
                builder.Services.AddLifeline(o =>
                {
                    o.HeartbeatInterval = TimeSpan.FromSeconds(3);
                    o.HeartbeatTimeout = TimeSpan.FromSeconds(3);
                    o.ShutdownRetrySpread = TimeSpan.FromMilliseconds(100);
                    o.DrainTimeout = TimeSpan.FromSeconds(2);
                });
                builder.Services.AddSingleton<ILifelineAuthenticator>(new TokenIsUserAuthenticator());
            },
            app =>
            {
                app.UseWebSockets();
                app.Use(async (context, next) =>
                {
                    var s = server!;
                    if (context.Request.Headers.Upgrade.Count > 0)
                    {
                        Interlocked.Increment(ref s.UpgradeRequests);
                        s.OnUpgradeRequest?.Invoke();
                        if (s.BusyUpgrade)
                        {
                            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                            context.Response.Headers.RetryAfter = "1";
                            return;
                        }
                        if (s.SilentUpgrade && context.WebSockets.IsWebSocketRequest)
                        {
                            using var socket = await context.WebSockets.AcceptWebSocketAsync();
                            try
                            {
                                // Reads (and drops) until the client gives up and aborts.
                                var buffer = new byte[4096];
                                while (socket.State == System.Net.WebSockets.WebSocketState.Open)
                                {
                                    await socket.ReceiveAsync(buffer, context.RequestAborted);
                                }
                            }
                            catch (Exception ex) when (ex is OperationCanceledException or System.Net.WebSockets.WebSocketException or IOException)
                            {
                            }

                            return;
                        }

                        if (s.StripUpgrade)
                        {
                            context.Request.Headers.Remove("Upgrade");
                            context.Request.Headers.Remove("Connection");
                        }
                    }

                    if (s.BufferHttp && context.Request.Path.StartsWithSegments("/ws") && context.Request.Method == "POST")
                    {
                        var inner = context.Features.Get<IHttpResponseBodyFeature>()!;
                        var buffering = new BufferingBodyFeature(inner, s.HoldHead);
                        context.Features.Set<IHttpResponseBodyFeature>(buffering);
                        try
                        {
                            await next(context);
                        }
                        finally
                        {
                            context.Features.Set(inner);
                            await buffering.ReleaseAsync(context.RequestAborted);
                        }

                        return;
                    }

                    await next(context);
                });
                app.MapLifeline("/ws");
            },
            logs,
            port: port);
        server = new HostileProxyServer(kestrel, logs) { StripUpgrade = stripUpgrade, BufferHttp = bufferHttp, SilentUpgrade = silentUpgrade, HoldHead = holdHead };
        return server;
    }

    public Task StopAsync() => _kestrel.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await _kestrel.DisposeAsync();
        Logs.AssertNoUnexpectedErrors();
    }

    /// <summary>Passes the status and headers on at the first write (unless it holds the head too), holds the body until the response ends.</summary>
    private sealed class BufferingBodyFeature : IHttpResponseBodyFeature
    {
        private readonly IHttpResponseBodyFeature _inner;
        private readonly HoldingStream _held;
        private readonly bool _holdHead;

        public BufferingBodyFeature(IHttpResponseBodyFeature inner, bool holdHead)
        {
            _inner = inner;
            _holdHead = holdHead;
            _held = new HoldingStream(inner, holdHead);
            Writer = PipeWriter.Create(_held, new StreamPipeWriterOptions(leaveOpen: true));
        }

        public Stream Stream => _held;

        public PipeWriter Writer { get; }

        public Task CompleteAsync() => Writer.CompleteAsync().AsTask();

        public void DisableBuffering()
        {
            // A buffering proxy ignores the hint.
        }

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task StartAsync(CancellationToken cancellationToken = default) => _holdHead ? Task.CompletedTask : _inner.StartAsync(cancellationToken);

        public async Task ReleaseAsync(CancellationToken cancellationToken)
        {
            try
            {
                await Writer.FlushAsync(cancellationToken);
                var bytes = _held.Take();
                if (bytes.Length > 0)
                {
                    await _inner.Stream.WriteAsync(bytes, cancellationToken);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
            {
                // The client went away meanwhile.
            }
        }
    }

    private sealed class HoldingStream(IHttpResponseBodyFeature inner, bool holdHead) : Stream
    {
        private readonly MemoryStream _buffer = new();
        private readonly Lock _gate = new();
        private int _started;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public byte[] Take()
        {
            lock (_gate)
            {
                var bytes = _buffer.ToArray();
                _buffer.SetLength(0);
                return bytes;
            }
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!holdHead && Interlocked.Exchange(ref _started, 1) == 0)
            {
                // The headers go through at once (a buffering proxy forwards them); the body waits.
                await inner.StartAsync(cancellationToken);
                await inner.Writer.FlushAsync(cancellationToken);
            }

            lock (_gate)
            {
                _buffer.Write(buffer.Span);
            }
        }
    }
}
