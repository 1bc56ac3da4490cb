using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Lifeline.Server.Connections;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Lifeline.Server.Transport;

/// <summary>
/// The lean listener: Kestrel connection middleware that peeks at the first request head of each new connection and,
/// when it is a WebSocket upgrade for the Lifeline path, does the HTTP/1.1 upgrade itself and runs the
/// <see cref="Connection"/> over a <see cref="LeanWebSocketTransport"/>; no HTTP object of Kestrel's lives under the
/// connection. Anything else (another path, a GET of the path without <c>Upgrade: websocket</c>, TLS or HTTP/2 bytes)
/// goes on to Kestrel's HTTP pipeline with nothing consumed. Answers of its own, for a request to the path: 405
/// (not GET), 400 (not HTTP/1.1, a malformed head, no or several <c>Host</c>, <c>Connection</c> without <c>upgrade</c>,
/// a missing or malformed <c>Sec-WebSocket-Key</c>, no <c>Sec-WebSocket-Version</c>, a body), 426 (a version other than
/// 13), 431 (a head over Kestrel's request line and header limits together), then <see cref="ConnectionAdmission"/>'s
/// 503/403/503; a head not complete within <see cref="LifelineOptions.HandshakeTimeout"/> of the accept: closed.
/// </summary>
internal sealed class LeanListener
{
    private const string WebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    // After a refusal, the rest of what the peer sent is read and dropped (bounded) before the close, so that unread
    // bytes do not turn the close into a reset that would destroy the answer before the peer reads it.
    private const int DrainLimit = 64 * 1024;
    private static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(1);

    private readonly LifelineRuntime _runtime;
    private readonly string _path;
    private readonly byte[] _pathBytes;
    private readonly KestrelServerLimits _limits;
    private readonly IServiceProvider _services;

    public LeanListener(LifelineRuntime runtime, string path, KestrelServerLimits limits, IServiceProvider services)
    {
        _runtime = runtime;
        _path = path;
        _pathBytes = Encoding.ASCII.GetBytes(path);
        _limits = limits;
        _services = services;
    }

    /// <summary>True when <paramref name="path"/> can be the lean listener's: absolute, no query, visible ASCII.</summary>
    public static bool IsValidPath(string? path) =>
        !string.IsNullOrEmpty(path) && path[0] == '/' && path.All(c => c is > ' ' and < (char)0x7F and not '?' and not '#');

    /// <summary>The largest request head (request line and fields) for the path: Kestrel's two limits together.</summary>
    private long MaxHeadSize => _limits.MaxRequestLineSize + (long)_limits.MaxRequestHeadersTotalSize;

    /// <summary>The connection middleware.</summary>
    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var (passOn, upgraded) = await UpgradeAsync(connection);
        if (passOn)
        {
            await next(connection);
        }
        else if (upgraded is not null)
        {
            await upgraded.RunAsync();
        }
    }

    /// <summary>The outcome "pass the connection on to Kestrel".</summary>
    private static readonly (bool PassOn, Connection? Run) PassOn = (true, null);

    /// <summary>The outcome "answered or closed here, nothing to run".</summary>
    private static readonly (bool PassOn, Connection? Run) Refused = (false, null);

    /// <summary>
    /// Reads the first head and acts on it: <see cref="PassOn"/>, <see cref="Refused"/>, or the connection to run after
    /// a 101. Its state (the head, the rebuilt request) is released when it returns: nothing of it stays under the idle
    /// connection but what the transport keeps.
    /// </summary>
    private async Task<(bool PassOn, Connection? Run)> UpgradeAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        using (var timeout = new CancellationTokenSource(_runtime.Options.HandshakeTimeout, _runtime.Time))
        {
            try
            {
                while (true)
                {
                    var result = await input.ReadAsync(timeout.Token);
                    var buffer = result.Buffer;
                    var target = Classify(buffer);
                    if (target == Target.Other)
                    {
                        input.AdvanceTo(buffer.Start); // nothing consumed, nothing examined: Kestrel reads it all again
                        return PassOn;
                    }

                    if (target == Target.Lifeline)
                    {
                        var end = buffer.PositionOf((byte)'\n') is null ? null : FindHeadEnd(buffer);
                        if (end is { } headEnd)
                        {
                            var head = buffer.Slice(0, headEnd);
                            if (head.Length > MaxHeadSize)
                            {
                                input.AdvanceTo(buffer.End);
                                return await RefuseAsync(connection, StatusCodes.Status431RequestHeaderFieldsTooLarge, "request head too large");
                            }

                            return await HandleHeadAsync(connection, input, buffer, headEnd, head.ToArray());
                        }

                        if (buffer.Length > MaxHeadSize)
                        {
                            input.AdvanceTo(buffer.End);
                            return await RefuseAsync(connection, StatusCodes.Status431RequestHeaderFieldsTooLarge, "request head too large");
                        }
                    }

                    if (result.IsCompleted || result.IsCanceled)
                    {
                        input.AdvanceTo(buffer.End);
                        return Refused; // the peer left before its head was complete
                    }

                    input.AdvanceTo(buffer.Start, buffer.End);
                }
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                UpgradeLog.LeanHeadTimedOut(_runtime.UpgradeLogger, _runtime.Options.HandshakeTimeout, connection.RemoteEndPoint);
                return Refused;
            }
            catch (Exception ex) when (ex is IOException or ConnectionResetException or ConnectionAbortedException or ObjectDisposedException)
            {
                // The peer went away, or Kestrel aborted the connection (a stopping server does once its shutdown timeout
                // has passed; the head's own timeout usually comes first). No registration on Kestrel's "close requested"
                // token: it would leave a callback node behind under every upgraded connection.
                return Refused;
            }
        }
    }

    private async Task<(bool PassOn, Connection? Run)> HandleHeadAsync(ConnectionContext connection, PipeReader input, ReadOnlySequence<byte> buffer, SequencePosition headEnd, byte[] bytes)
    {
        if (!RequestHead.TryParse(bytes, out var head, out var malformed))
        {
            input.AdvanceTo(buffer.End);
            return await RefuseAsync(connection, StatusCodes.Status400BadRequest, malformed);
        }

        if (head!.Method != HttpMethods.Get)
        {
            input.AdvanceTo(buffer.End);
            return await RefuseAsync(connection, StatusCodes.Status405MethodNotAllowed, "method " + head.Method, "Allow: GET\r\n");
        }

        if (head.Version != "HTTP/1.1")
        {
            input.AdvanceTo(buffer.End);
            return await RefuseAsync(connection, StatusCodes.Status400BadRequest, "HTTP/1.1 expected, got " + head.Version);
        }

        if (!head.ListsToken(HeaderNames.Upgrade, "websocket"))
        {
            input.AdvanceTo(buffer.Start); // not an upgrade: Kestrel serves the path (MapLifeline answers 400, or 404)
            return PassOn;
        }

        input.AdvanceTo(headEnd); // what follows the head (a pipelined first frame) stays for the WebSocket
        var why = CheckUpgrade(head, out var status);
        if (why is not null)
        {
            return await RefuseAsync(connection, status, why, status == StatusCodes.Status426UpgradeRequired ? "Sec-WebSocket-Version: 13\r\n" : null);
        }

        var scheme = connection.Features.Get<ITlsConnectionFeature>() is null ? "http" : "https";
        var host = new HostString(head.Headers.Host.ToString());
        var remote = connection.RemoteEndPoint as IPEndPoint;
        var admitted = ConnectionAdmission.Admit(_runtime, head.Headers.Origin, scheme, host, remote?.Address.ToString(), UpgradeLog.OriginRefused, UpgradeLog.TooManyHandshakes);
        if (admitted != StatusCodes.Status200OK)
        {
            return await RefuseAsync(connection, admitted, "refused", admitted == StatusCodes.Status503ServiceUnavailable ? $"Retry-After: {ConnectionAdmission.RetryAfterSeconds}\r\n" : null, logged: true);
        }

        try
        {
            var accept = AcceptKey(head.Headers[HeaderNames.SecWebSocketKey].ToString());
            await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes(
                $"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"));
            var socket = WebSocket.CreateFromStream(new ConnectionStream(connection.Transport), new WebSocketCreationOptions
            {
                IsServer = true,
                KeepAliveInterval = TimeSpan.Zero,
            });

            // The connection owns the handshake slot from here: it leaves it when its hello is accepted or at teardown.
            return (false, new Connection(new LeanWebSocketTransport(socket, connection, ToHttpContext(head, scheme, host, connection), _path, _runtime.Time), _runtime));
        }
        catch
        {
            _runtime.Limits.ExitHandshake();
            throw;
        }
    }

    /// <summary>The upgrade's own checks (RFC 6455 4.2.1); null when it is a valid version 13 upgrade.</summary>
    private static string? CheckUpgrade(RequestHead head, out int status)
    {
        status = StatusCodes.Status400BadRequest;
        var headers = head.Headers;
        if (headers.Host.Count != 1 || string.IsNullOrEmpty(headers.Host[0]))
        {
            return "exactly one Host expected";
        }

        if (!head.ListsToken(HeaderNames.Connection, "upgrade"))
        {
            return "Connection: Upgrade expected";
        }

        if (headers.ContentLength is > 0 || headers.ContainsKey(HeaderNames.TransferEncoding))
        {
            return "an upgrade has no body";
        }

        var version = headers[HeaderNames.SecWebSocketVersion];
        if (version.Count == 0)
        {
            return "Sec-WebSocket-Version expected";
        }

        if (version.Count != 1 || version[0] != "13")
        {
            status = StatusCodes.Status426UpgradeRequired;
            return "unsupported Sec-WebSocket-Version " + version.ToString();
        }

        var key = headers[HeaderNames.SecWebSocketKey];
        Span<byte> nonce = stackalloc byte[16];
        if (key.Count != 1 || key[0] is not { Length: 24 } text || !Convert.TryFromBase64String(text, nonce, out var written) || written != 16)
        {
            return "Sec-WebSocket-Key must be the base64 of 16 bytes";
        }

        return null;
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "RFC 6455 4.2.2 defines Sec-WebSocket-Accept with SHA-1; it is not used for security here.")]
    private static string AcceptKey(string key) => Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + WebSocketGuid)));

    /// <summary>The request the hello's authenticator sees: rebuilt from the head (no authentication middleware ran).</summary>
    private DefaultHttpContext ToHttpContext(RequestHead head, string scheme, HostString host, ConnectionContext connection)
    {
        var context = new DefaultHttpContext { RequestServices = _services };
        var request = context.Request;
        request.Method = head.Method;
        request.Protocol = head.Version;
        request.Scheme = scheme;
        request.Host = host;
        var query = head.Target.IndexOf('?', StringComparison.Ordinal);
        request.Path = PathString.FromUriComponent(query < 0 ? head.Target : head.Target[..query]);
        request.QueryString = query < 0 ? QueryString.Empty : new QueryString(head.Target[query..]);
        context.Features.Get<IHttpRequestFeature>()!.Headers = head.Headers;
        SetConnection(context, connection);
        return context;
    }

    /// <summary>Copies the connection's id and addresses into <paramref name="context"/>; its <c>RequestAborted</c> is the connection's close.</summary>
    public static void SetConnection(HttpContext context, ConnectionContext connection)
    {
        context.Connection.Id = connection.ConnectionId;
        if (connection.RemoteEndPoint is IPEndPoint remote)
        {
            context.Connection.RemoteIpAddress = remote.Address;
            context.Connection.RemotePort = remote.Port;
        }

        if (connection.LocalEndPoint is IPEndPoint local)
        {
            context.Connection.LocalIpAddress = local.Address;
            context.Connection.LocalPort = local.Port;
        }

        context.RequestAborted = connection.ConnectionClosed;
    }

    /// <summary>Answers <paramref name="status"/> with a one-line text body and closes the connection.</summary>
    private async Task<(bool PassOn, Connection? Run)> RefuseAsync(ConnectionContext connection, int status, string why, string? headers = null, bool logged = false)
    {
        if (!logged)
        {
            UpgradeLog.LeanUpgradeRefused(_runtime.UpgradeLogger, status, why, connection.RemoteEndPoint);
        }

        var body = $"Lifeline: {why}\n";
        var response = $"HTTP/1.1 {status} {ReasonPhrases.GetReasonPhrase(status)}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n{headers}\r\n{body}";
        try
        {
            await connection.Transport.Output.WriteAsync(Encoding.UTF8.GetBytes(response));
            await DrainAsync(connection.Transport.Input);
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or ObjectDisposedException or InvalidOperationException)
        {
            // the peer is gone
        }

        return Refused;
    }

    private async Task DrainAsync(PipeReader input)
    {
        using var timeout = new CancellationTokenSource(DrainTime, _runtime.Time);
        long drained = 0;
        try
        {
            while (drained < DrainLimit)
            {
                var result = await input.ReadAsync(timeout.Token);
                drained += result.Buffer.Length;
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // the peer kept the connection open: close it now
        }
    }

    private enum Target
    {
        /// <summary>Not known yet: more bytes needed.</summary>
        Unknown,

        /// <summary>A request for the Lifeline path.</summary>
        Lifeline,

        /// <summary>Anything else: Kestrel's.</summary>
        Other,
    }

    /// <summary>
    /// Decides from the first bytes whether the request is for the Lifeline path (<c>METHOD SP path[?query] SP</c>)
    /// without waiting for its head: a request for another path is passed on as soon as its target differs.
    /// </summary>
    private Target Classify(ReadOnlySequence<byte> buffer)
    {
        const int MaxMethod = 24;
        Span<byte> start = stackalloc byte[MaxMethod + 2 + 256];
        var length = (int)Math.Min(buffer.Length, MaxMethod + 2 + _pathBytes.Length);
        if (length > start.Length)
        {
            start = new byte[length];
        }

        start = start[..length];
        buffer.Slice(0, length).CopyTo(start);
        var space = start.IndexOf((byte)' ');
        if (space < 0)
        {
            return length > MaxMethod || (start.Length > 0 && !RequestHead.IsToken(start)) ? Target.Other : Target.Unknown;
        }

        if (space == 0 || !RequestHead.IsToken(start[..space]))
        {
            return Target.Other;
        }

        var target = start[(space + 1)..];
        var compared = Math.Min(target.Length, _pathBytes.Length);
        if (!target[..compared].SequenceEqual(_pathBytes.AsSpan(0, compared)))
        {
            return Target.Other;
        }

        if (target.Length <= _pathBytes.Length)
        {
            return Target.Unknown;
        }

        return target[_pathBytes.Length] is (byte)' ' or (byte)'?' ? Target.Lifeline : Target.Other;
    }

    /// <summary>The position just after the head's final CRLF CRLF, when it has arrived.</summary>
    private static SequencePosition? FindHeadEnd(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (reader.TryReadTo(out ReadOnlySequence<byte> _, "\r\n\r\n"u8, advancePastDelimiter: true))
        {
            return reader.Position;
        }

        return null;
    }
}
