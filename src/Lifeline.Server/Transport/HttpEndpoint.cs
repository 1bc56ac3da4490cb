using System.Buffers;
using Lifeline.Server.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Lifeline.Server.Transport;

/// <summary>
/// The HTTP transport's requests behind <c>MapLifeline</c> (PROTOCOL.md "HTTP transport"): <c>POST {path}/stream</c>
/// (Server-Sent Events; <c>?poll=1</c>: long polling), <c>POST {path}/send</c>, <c>POST {path}/poll</c>. Refusals
/// before a connection exists are those of the WebSocket upgrade (503 draining or too many pending handshakes, 403
/// origin); then one <see cref="Connection"/> over an <see cref="HttpTransport"/>. Log ids 22-24 and 27 (the upgrade's
/// block and category: refusals before a connection exists). The send capability is never logged. Cross-origin pages
/// of an allowed origin get the CORS answers (<see cref="HttpCors"/>).
/// </summary>
internal static partial class HttpEndpoint
{
    /// <summary>The request header that carries <c>welcome.send</c>.</summary>
    public const string SendHeader = "Lifeline-Send";

    /// <summary>
    /// <c>POST {path}/stream</c>: opens a connection whose hello is the body. A request that carries the
    /// <c>Lifeline-Send</c> capability of a live connection is a second concurrent stream for it: 409, nothing opened.
    /// </summary>
    public static async Task StreamAsync(HttpContext context, LifelineRuntime runtime)
    {
        HttpCors.AllowOrigin(context, runtime);
        if (context.Request.Headers.TryGetValue(SendHeader, out var capability) && runtime.HttpConnections.Find(capability.ToString()) is not null)
        {
            RefuseSecondStream(context, runtime, "stream");
            return;
        }

        if (!ConnectionAdmission.TryAdmit(context, runtime, HttpLog.OriginRefused, HttpLog.TooManyHandshakes))
        {
            return;
        }

        // The hello timeout bounds how long the hello body may take, as it bounds the hello after an upgrade; Kestrel's
        // own minimum body data rate would otherwise end a slow hello sooner, as a 1006 instead of 1002 hello_timeout.
        if (context.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.IHttpMinRequestBodyDataRateFeature>() is { } rate)
        {
            rate.MinDataRate = null;
        }

        var polling = context.Request.Query["poll"] == "1";
        var transport = new HttpTransport(context, runtime.HttpConnections, runtime.Time, polling);
        runtime.HttpConnections.Add(transport);

        // The connection owns the handshake slot from here: it leaves it when its hello is accepted or at teardown.
        var connection = new Connection(transport, runtime);
        if (!polling)
        {
            await connection.RunAsync();
            return;
        }

        // Long polling: this request is the first poll; the connection outlives it. Its hello (this body) is read
        // before the request ends, and its response carries the first batch (the welcome, or the close).
        var run = connection.RunAsync();
        await transport.ServePollAsync(context, timeout: null);
        await transport.HelloRead;
        _ = run;
    }

    /// <summary>
    /// <c>POST {path}/send</c>: 404 without a live connection for the capability, 413 for a body over
    /// <see cref="LifelineOptions.MaxMessageSize"/>, else 204 once the connection handled the body's messages (even
    /// when one of them closed it: a line that is not a JSON object closes it with 1007, as over a WebSocket).
    /// </summary>
    public static async Task SendAsync(HttpContext context, LifelineRuntime runtime)
    {
        HttpCors.AllowOrigin(context, runtime);
        var transport = runtime.HttpConnections.Find(context.Request.Headers[SendHeader].ToString());
        if (transport is null || transport.IsClosing)
        {
            HttpLog.UnknownCapability(runtime.UpgradeLogger, "send", context.Connection.RemoteIpAddress?.ToString());
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        var max = runtime.Options.MaxMessageSize;
        if (context.Request.ContentLength > max)
        {
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(max + 1, 4096));
        try
        {
            var count = 0;
            while (true)
            {
                if (count == buffer.Length)
                {
                    if (count > max)
                    {
                        context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                        return;
                    }

                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, max + 1));
                    buffer.AsSpan(0, count).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await context.Request.Body.ReadAsync(buffer.AsMemory(count), context.RequestAborted);
                if (read == 0)
                {
                    break;
                }

                count += read;
                if (count > max)
                {
                    context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                    return;
                }
            }

            context.Response.StatusCode = await transport.AcceptAsync(context, buffer.AsMemory(0, count))
                ? StatusCodes.Status204NoContent
                : StatusCodes.Status404NotFound;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or BadHttpRequestException or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            // the client went away mid-request: nothing to answer
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// <c>POST {path}/poll</c>: 404 without a live connection for the capability (the poll does not re-open it), 409
    /// while another poll of the same connection is in progress or when the connection has its own event stream (a
    /// second concurrent stream for the capability), else 200 with the next batch (or none after 25 s).
    /// </summary>
    public static Task PollAsync(HttpContext context, LifelineRuntime runtime)
    {
        HttpCors.AllowOrigin(context, runtime);
        var transport = runtime.HttpConnections.Find(context.Request.Headers[SendHeader].ToString());
        if (transport is null)
        {
            HttpLog.UnknownCapability(runtime.UpgradeLogger, "poll", context.Connection.RemoteIpAddress?.ToString());
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        if (!transport.Polling)
        {
            RefuseSecondStream(context, runtime, "poll");
            return Task.CompletedTask;
        }

        return transport.ServePollAsync(context, HttpTransport.PollTimeout);
    }

    /// <summary>409 for a second concurrent stream of one connection (a <paramref name="request"/> with a live capability).</summary>
    private static void RefuseSecondStream(HttpContext context, LifelineRuntime runtime, string request)
    {
        HttpLog.SecondStream(runtime.UpgradeLogger, request, context.Connection.RemoteIpAddress?.ToString());
        context.Response.StatusCode = StatusCodes.Status409Conflict;
    }

    private static partial class HttpLog
    {
        [LoggerMessage(22, LogLevel.Warning, "HTTP stream refused with 403: origin {Origin} is not allowed remote={RemoteAddress}", EventName = "HttpOriginRefused")]
        public static partial void OriginRefused(ILogger logger, string origin, string? remoteAddress);

        [LoggerMessage(23, LogLevel.Warning, "HTTP stream refused with 503: {Max} connections are already waiting for their hello remote={RemoteAddress}", EventName = "HttpTooManyHandshakes")]
        public static partial void TooManyHandshakes(ILogger logger, int max, string? remoteAddress);

        // The capability itself is never logged: only that one did not match.
        [LoggerMessage(24, LogLevel.Debug, "HTTP {Request} answered 404: no live connection for that capability remote={RemoteAddress}", EventName = "HttpUnknownCapability")]
        public static partial void UnknownCapability(ILogger logger, string request, string? remoteAddress);

        [LoggerMessage(27, LogLevel.Debug, "HTTP {Request} answered 409: the connection of that capability already has its event stream remote={RemoteAddress}", EventName = "HttpSecondStream")]
        public static partial void SecondStream(ILogger logger, string request, string? remoteAddress);
    }
}
