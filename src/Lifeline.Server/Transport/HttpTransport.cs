using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Lifeline.Protocol;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Lifeline.Server.Transport;

/// <summary>
/// The transport over plain HTTP requests (PROTOCOL.md "HTTP transport"). Client messages: the hello is the body of
/// <c>POST {path}/stream</c>, every later message a line of a <c>POST {path}/send</c> body (<see cref="AcceptAsync"/>).
/// Server messages: one Server-Sent Events event per message, on the one stream response (<c>http-stream</c>), or in
/// long polls, each poll ending after one frame (<c>http-poll</c>; with no poll open the writer waits and what comes
/// meanwhile stays in the connection's bounded send queue). The server's close is a <c>close</c> event, then the end of
/// the response; the client's close a <c>close</c> message sent like any other.
/// </summary>
/// <remarks>
/// Teardown triggers: a stream request aborted by the client ends the receive side (1006, like a TCP reset under a
/// WebSocket); a failed write to the stream or a poll fails the send queue (1006); a silent peer is caught by the
/// heartbeat (4000). <see cref="CloseAsync"/> releases every request this connection holds.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Its semaphores never create a wait handle and its token source has no timer: nothing to dispose; CloseAsync, run once by teardown, cancels the source.")]
internal sealed class HttpTransport : IConnectionTransport
{
    /// <summary>How long a poll waits for a batch before it ends with none (PROTOCOL.md: 25 s).</summary>
    public static readonly TimeSpan PollTimeout = TimeSpan.FromSeconds(25);

    private static readonly byte[] EventPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();

    private readonly HttpContext _stream; // the request that opened the connection (stream mode: for its whole life)
    private readonly string _streamConnectionId; // its TCP connection (read once: a poll-mode opening request ends early)
    private readonly HttpConnectionTable _table;
    private readonly TimeProvider _time;
    private readonly bool _polling;
    private readonly object _gate = new(); // guards every field below
    private readonly Queue<(TransportMessage Message, TaskCompletionSource? Handled)> _inbound = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1); // one writer at a time: the send queue's writer, or the close
    private readonly SemaphoreSlim _sendOrder = new(1, 1); // send requests of this connection, one at a time, in order
    private readonly CancellationTokenSource _ended = new(); // cancelled when the transport ends: stops every wait
    private readonly TaskCompletionSource _helloRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _inboundSignal;
    private TaskCompletionSource? _previousHandled; // completes when the message returned last was handled
    private TaskCompletionSource? _pollSignal;
    private Poll? _openPoll; // a poll waiting for a frame, not claimed yet
    private Poll? _activePoll; // the poll request in progress (open or being written): a second one is refused
    private bool _helloTaken;
    private bool _receiveEnded;
    private bool _pollsRefused;
    private bool _closing;
    private Exception? _endError;
    private HttpContext? _currentSend; // long polling: the send request whose messages the connection is handling
    private (string Id, IConnectionLifetimeFeature Lifetime)? _sendConnection; // the TCP connection of the latest send
    private (string Id, IConnectionLifetimeFeature Lifetime)? _pollConnection; // the TCP connection of the latest poll
    private CancellationTokenRegistration _abortRegistration;

    public HttpTransport(HttpContext stream, HttpConnectionTable table, TimeProvider time, bool polling)
    {
        _stream = stream;
        _streamConnectionId = stream.Connection.Id;
        _table = table;
        _time = time;
        _polling = polling;
        RemoteEndPoint = stream.Connection.RemoteIpAddress is { } ip ? new IPEndPoint(ip, stream.Connection.RemotePort) : null;
        Secret = NewSecret();
        if (!polling)
        {
            // The client dropped the stream: the peer's end, as a TCP reset under a WebSocket.
            _abortRegistration = stream.RequestAborted.Register(static s => ((HttpTransport)s!).EndReceive(new IOException("the stream request was aborted")), this);
        }
    }

    /// <summary>The send capability: 144 random bits, base64url. Never logged.</summary>
    public string Secret { get; }

    public IPEndPoint? RemoteEndPoint { get; }

    public string Name => _polling ? TransportNames.HttpPoll : TransportNames.HttpStream;

    /// <summary>True for long polling (<c>?poll=1</c>); false when the opening request is the connection's one event stream.</summary>
    public bool Polling => _polling;

    /// <summary>True once the transport ended: sends and polls get 404.</summary>
    public bool IsEnded => _ended.IsCancellationRequested;

    /// <summary>
    /// True once teardown began: sends get 404 (the connection no longer exists for them), while polls are still
    /// served until the close event went out in one of them.
    /// </summary>
    public bool IsClosing => Volatile.Read(ref _closing);

    public WelcomeMessage Announce(WelcomeMessage welcome) => welcome with { Transport = "http", Send = Secret };

    /// <summary>Long polling: the send request being handled (alive until its messages are), else the opening request; the stream: the opening request (it lives as long as the connection).</summary>
    public HttpContext Request => (_polling ? Volatile.Read(ref _currentSend) : null) ?? _stream;

    /// <summary>Completes once the hello was read from the opening request's body (or that read ended).</summary>
    public Task HelloRead => _helloRead.Task;

    private static string NewSecret() => Base64Url(RandomNumberGenerator.GetBytes(18));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The hello first (the opening request's body), then the messages of send requests, in their order.</summary>
    public async ValueTask<TransportMessage> ReceiveAsync(int maxMessageSize)
    {
        TaskCompletionSource? handled;
        lock (_gate)
        {
            handled = _previousHandled;
            _previousHandled = null;
        }

        handled?.TrySetResult(); // the receive loop asks for the next message: the previous one was handled

        if (!_helloTaken)
        {
            _helloTaken = true;
            try
            {
                return await ReadHelloAsync(maxMessageSize);
            }
            finally
            {
                _helloRead.TrySetResult();
            }
        }

        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_inbound.TryDequeue(out var item))
                {
                    _previousHandled = item.Handled;
                    return item.Message;
                }

                if (_receiveEnded)
                {
                    return TransportMessage.Of(TransportMessageKind.Ended, _endError);
                }

                _inboundSignal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _inboundSignal.Task;
            }

            await wait;
        }
    }

    /// <summary>
    /// Reads the opening request's whole body (the hello). Through the body's pipe, so that teardown can end a read
    /// that waits for a body that never completes (<see cref="System.IO.Pipelines.PipeReader.CancelPendingRead"/>)
    /// and leave the request in a state Kestrel can finish.
    /// </summary>
    private async Task<TransportMessage> ReadHelloAsync(int maxMessageSize)
    {
        if (_stream.Request.ContentLength > maxMessageSize)
        {
            return TransportMessage.Of(TransportMessageKind.TooBig);
        }

        var reader = _stream.Request.BodyReader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                var body = result.Buffer;
                if (result.IsCanceled)
                {
                    reader.AdvanceTo(body.Start, body.End);
                    return TransportMessage.Of(TransportMessageKind.Ended);
                }

                if (body.Length > maxMessageSize)
                {
                    reader.AdvanceTo(body.Start, body.End);
                    return TransportMessage.Of(TransportMessageKind.TooBig);
                }

                if (!result.IsCompleted)
                {
                    reader.AdvanceTo(body.Start, body.End);
                    continue;
                }

                var count = (int)body.Length;
                var buffer = count == 0 ? [] : ArrayPool<byte>.Shared.Rent(count);
                body.CopyTo(buffer);
                reader.AdvanceTo(body.End);
                return new TransportMessage(TransportMessageKind.Text, buffer, count);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException or BadHttpRequestException or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            return TransportMessage.Of(TransportMessageKind.Ended, ex);
        }
    }

    /// <summary>
    /// Hands the lines of one send body to the receive loop and waits until the connection handled them (or ended).
    /// Empty lines are skipped; a line <c>{"type":"close",...}</c> is the client's close.
    /// </summary>
    /// <param name="request">The send request (alive until this returns: the authenticator may read it).</param>
    /// <param name="body">The body (NDJSON; not validated here: the connection judges each line as it would a WebSocket message).</param>
    /// <returns>False when the connection had already ended (the send is answered 404).</returns>
    public async Task<bool> AcceptAsync(HttpContext request, ReadOnlyMemory<byte> body)
    {
        try
        {
            await _sendOrder.WaitAsync(_ended.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        if (request.Features.Get<IConnectionLifetimeFeature>() is { } sendLifetime)
        {
            lock (_gate)
            {
                _sendConnection = (request.Connection.Id, sendLifetime);
            }
        }

        try
        {
            var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var messages = Split(body);
            if (messages.Count == 0)
            {
                return !IsEnded;
            }

            TaskCompletionSource? signal;
            lock (_gate)
            {
                if (_receiveEnded)
                {
                    foreach (var m in messages)
                    {
                        m.Dispose();
                    }

                    return false;
                }

                for (var i = 0; i < messages.Count; i++)
                {
                    _inbound.Enqueue((messages[i], i == messages.Count - 1 ? handled : null));
                }

                signal = _inboundSignal;
                _inboundSignal = null;
            }

            Volatile.Write(ref _currentSend, request);
            signal?.TrySetResult();
            await handled.Task;
            return true;
        }
        finally
        {
            Volatile.Write(ref _currentSend, null);
            _sendOrder.Release();
        }
    }

    private static List<TransportMessage> Split(ReadOnlyMemory<byte> body)
    {
        var messages = new List<TransportMessage>();
        var rest = body;
        while (!rest.IsEmpty)
        {
            var end = rest.Span.IndexOf(ProtocolConstants.MessageSeparator);
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? ReadOnlyMemory<byte>.Empty : rest[(end + 1)..];
            if (!line.IsEmpty && line.Span[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            if (line.IsEmpty)
            {
                continue;
            }

            if (ClientClose(line.Span) is { } close)
            {
                messages.Add(TransportMessage.Of(TransportMessageKind.Close, close));
                continue;
            }

            var buffer = ArrayPool<byte>.Shared.Rent(line.Length);
            line.Span.CopyTo(buffer);
            messages.Add(new TransportMessage(TransportMessageKind.Text, buffer, line.Length));
        }

        return messages;
    }

    /// <summary>The client's close (<c>{"type":"close","code":N,"reason":"..."}</c>), or null for any other line.</summary>
    private static CloseCode? ClientClose(ReadOnlySpan<byte> line)
    {
        if (line.IndexOf("\"close\""u8) < 0)
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(line.ToArray());
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "close")
            {
                return null;
            }

            var code = root.TryGetProperty("code", out var c) && c.TryGetInt32(out var n) && n is >= 1000 and <= 4999 ? CloseCode.FromCode(n) : CloseCode.Normal;
            return root.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String && !string.IsNullOrEmpty(r.GetString()) ? code.WithReason(r.GetString()!) : code;
        }
        catch (JsonException)
        {
            return null; // not JSON: the connection judges it (1007)
        }
    }

    /// <summary>The receive side ended (the stream request aborted, the transport aborted or closed).</summary>
    private void EndReceive(Exception? error)
    {
        TaskCompletionSource? signal;
        lock (_gate)
        {
            if (_receiveEnded)
            {
                return;
            }

            _receiveEnded = true;
            _endError = error;
            signal = _inboundSignal;
            _inboundSignal = null;
        }

        signal?.TrySetResult();
    }

    /// <summary>Writes one frame: one SSE event per line, then a flush (stream), or the frame as the next poll's batch.</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> frame)
    {
        await _writeLock.WaitAsync(_ended.Token);
        try
        {
            if (_polling)
            {
                var poll = await TakePollAsync(_ended.Token);
                try
                {
                    await WriteEventsAsync(poll.Context.Response, frame, poll.Context.RequestAborted);
                }
                finally
                {
                    poll.Written.TrySetResult(true);
                }
            }
            else
            {
                await WriteEventsAsync(_stream.Response, frame, _ended.Token);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task WriteEventsAsync(HttpResponse response, ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        // The event stream is the connection's whole life: its TCP connection ends with it (no idle keep-alive socket left
        // behind after a teardown). A hello body that never completed cannot be drained either: the same for a poll's opening.
        StartEventStream(response, closeConnection: ReferenceEquals(response, _stream.Response) && (!_polling || !_helloRead.Task.IsCompleted));
        var writer = response.BodyWriter;
        var rest = frame;
        while (!rest.IsEmpty)
        {
            var end = rest.Span.IndexOf(ProtocolConstants.MessageSeparator);
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? ReadOnlyMemory<byte>.Empty : rest[(end + 1)..];
            writer.Write(EventPrefix);
            writer.Write(line.Span);
            writer.Write(EventEnd);
        }

        var flushed = await writer.FlushAsync(cancellationToken);
        if (flushed.IsCanceled || flushed.IsCompleted)
        {
            throw new IOException("the HTTP response ended");
        }
    }

    /// <summary>Status and headers of an event stream, once per response.</summary>
    private static void StartEventStream(HttpResponse response, bool closeConnection = false)
    {
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        if (closeConnection)
        {
            response.Headers.Connection = "close";
        }
        response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    /// <summary>Waits for a poll and claims it (the next batch goes to it).</summary>
    private async Task<Poll> TakePollAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_openPoll is { } poll)
                {
                    _openPoll = null; // claimed: its request now waits for this writer
                    return poll;
                }

                _pollSignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _pollSignal.Task;
            }

            await wait.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Serves one poll (the opening <c>stream?poll=1</c> request included, with <paramref name="timeout"/> null: it
    /// waits for its batch however long the hello takes). Answers 409 while another poll of this connection is in
    /// progress, 404 once the connection ended; else 200 with one batch of events, or none after <paramref name="timeout"/>.
    /// </summary>
    /// <param name="context">The poll request.</param>
    /// <param name="timeout">How long to wait for a batch (null: until one comes or the connection ends).</param>
    /// <returns>When the response is complete.</returns>
    public async Task ServePollAsync(HttpContext context, TimeSpan? timeout)
    {
        var poll = new Poll(context);
        TaskCompletionSource? signal;
        lock (_gate)
        {
            if (_pollsRefused)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            if (_activePoll is not null)
            {
                context.Response.StatusCode = StatusCodes.Status409Conflict;
                return;
            }

            _pollConnection = context.Features.Get<IConnectionLifetimeFeature>() is { } pollLifetime ? (context.Connection.Id, pollLifetime) : null;

            _activePoll = poll;
            _openPoll = poll;
            signal = _pollSignal;
            _pollSignal = null;
        }

        signal?.TrySetResult();
        try
        {
            bool written;
            try
            {
                written = timeout is { } t
                    ? await poll.Written.Task.WaitAsync(t, _time, context.RequestAborted)
                    : await poll.Written.Task.WaitAsync(context.RequestAborted);
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                bool claimed;
                lock (_gate)
                {
                    claimed = !ReferenceEquals(_openPoll, poll);
                    if (!claimed)
                    {
                        _openPoll = null; // not claimed: it ends empty (or is gone)
                    }
                }

                written = claimed && await poll.Written.Task;
            }

            if (!written && !context.Response.HasStarted)
            {
                if (IsEnded)
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                }
                else
                {
                    StartEventStream(context.Response); // 25 s without a message: an empty batch
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                if (ReferenceEquals(_activePoll, poll))
                {
                    _activePoll = null;
                }
            }
        }
    }

    /// <summary>
    /// Ends the transport: the close event goes out (as the last event of the stream, or in a poll that comes within
    /// <paramref name="bound"/>), the response ends; whatever is left is aborted. Afterwards sends and polls get 404.
    /// </summary>
    public async Task<bool> CloseAsync(CloseCode code, TimeSpan bound)
    {
        Volatile.Write(ref _closing, true);
        var clean = false;
        if (code.Code != CloseCode.Abnormal.Code)
        {
            using var timeout = new CancellationTokenSource(bound, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _ended.Token);
            try
            {
                await _writeLock.WaitAsync(linked.Token);
                try
                {
                    var close = CloseEvent(code);
                    if (_polling)
                    {
                        var poll = await TakePollAsync(linked.Token);
                        try
                        {
                            await WriteEventsAsync(poll.Context.Response, close, linked.Token);
                        }
                        finally
                        {
                            poll.Written.TrySetResult(true);
                        }
                    }
                    else
                    {
                        await WriteEventsAsync(_stream.Response, close, linked.Token);
                        await _stream.Response.CompleteAsync();
                    }

                    clean = true;
                }
                finally
                {
                    _writeLock.Release();
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // the close could not go out within the bound: the peer is presumed gone
            }
        }

        Poll? open;
        lock (_gate)
        {
            _pollsRefused = true;
            open = _openPoll;
            _openPoll = null;
        }

        open?.Written.TrySetResult(false);
        _table.Remove(this);
        CancelHelloRead();
        await _ended.CancelAsync(); // stops the writer's wait and waiting send requests
        EndReceive(null);
        ReleaseInbound();
        await _abortRegistration.DisposeAsync();
        if (!clean && !_polling)
        {
            _stream.Abort();
        }

        // The stream (and the poll that carried the close event) end with Connection: close, so their TCP connections
        // close with a FIN after the close event. A peer declared dead (heartbeat timeout) also had idle keep-alive
        // connections that carried its sends and polls: they are reset (nothing unread on them; a connection that still
        // carries the close event is left to its FIN), so that no socket of a vanished client waits for Kestrel's
        // keep-alive timeout in the server process.
        if (code.Code == CloseCode.HeartbeatTimeout.Code)
        {
            ResetIdleConnections(clean);
        }

        return !clean;
    }

    private void ResetIdleConnections(bool closeEventSent)
    {
        (string Id, IConnectionLifetimeFeature Lifetime)? send, poll;
        lock (_gate)
        {
            send = _sendConnection;
            poll = _pollConnection;
        }

        // In poll mode a sent close event went out on the latest poll's connection: that one ends by itself.
        var carrier = _polling && closeEventSent ? poll?.Id : _streamConnectionId;
        if (send is { } s && s.Id != carrier && (_polling || s.Id != _streamConnectionId))
        {
            s.Lifetime.Abort();
        }

        if (poll is { } p && p.Id != carrier && p.Id != send?.Id)
        {
            p.Lifetime.Abort();
        }
    }

    /// <summary>Ends a hello read still waiting for the rest of the opening request's body (the request is still alive then).</summary>
    private void CancelHelloRead()
    {
        if (!_helloRead.Task.IsCompleted)
        {
            _stream.Request.BodyReader.CancelPendingRead();
        }
    }

    /// <summary>The server's close as an event: <c>{"type":"close","code":N,"reason":"..."}</c>.</summary>
    private static byte[] CloseEvent(CloseCode code)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", "close");
            json.WriteNumber("code", code.Code);
            json.WriteString("reason", code.Reason);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Messages nobody will handle now: their buffers go back, their send requests are answered.</summary>
    private void ReleaseInbound()
    {
        List<TaskCompletionSource> waiting = [];
        lock (_gate)
        {
            if (_previousHandled is { } previous)
            {
                waiting.Add(previous);
                _previousHandled = null;
            }

            while (_inbound.TryDequeue(out var item))
            {
                item.Message.Dispose();
                if (item.Handled is { } handled)
                {
                    waiting.Add(handled);
                }
            }
        }

        foreach (var handled in waiting)
        {
            handled.TrySetResult();
        }
    }

    /// <summary>
    /// As a network failure would: the stream request is aborted (stream mode), an open poll is aborted, the
    /// receive side ends (the connection tears down with 1006).
    /// </summary>
    public void Abort()
    {
        Poll? open;
        lock (_gate)
        {
            open = _activePoll;
        }

        open?.Context.Abort();
        CancelHelloRead();
        if (!_polling)
        {
            _stream.Abort();
        }

        EndReceive(new IOException("the transport was aborted"));
    }

    /// <summary>One poll request: its context, and whether a frame went into it.</summary>
    private sealed class Poll(HttpContext context)
    {
        public HttpContext Context { get; } = context;

        /// <summary>True: a frame was written; false: the connection ended without one.</summary>
        public TaskCompletionSource<bool> Written { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
