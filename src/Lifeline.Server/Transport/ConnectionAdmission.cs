using Lifeline.Server.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace Lifeline.Server.Transport;

/// <summary>
/// The checks every new connection passes before it exists, whatever its transport (the WebSocket upgrade through
/// <c>MapLifeline</c> or the lean listener, the HTTP stream): not while draining (503 with <c>Retry-After</c>), not
/// from a foreign Origin (403), not beyond <see cref="LifelineOptions.MaxPendingHandshakes"/> connections waiting for
/// their hello (503). Each transport logs a refusal under its own event id.
/// </summary>
internal static class ConnectionAdmission
{
    /// <summary>Answers the request when the connection is refused; on true the caller holds a pending-handshake slot.</summary>
    /// <param name="context">The request.</param>
    /// <param name="runtime">The node's runtime.</param>
    /// <param name="originRefused">Logs a refused Origin (origin, remote address).</param>
    /// <param name="tooManyHandshakes">Logs a refusal for too many pending handshakes (the limit, remote address).</param>
    /// <returns>True when admitted.</returns>
    public static bool TryAdmit(
        HttpContext context,
        LifelineRuntime runtime,
        Action<ILogger, string, string?> originRefused,
        Action<ILogger, int, string?> tooManyHandshakes)
    {
        var request = context.Request;
        var status = Admit(runtime, request.Headers.Origin, request.Scheme, request.Host, context.Connection.RemoteIpAddress?.ToString(), originRefused, tooManyHandshakes);
        if (status == StatusCodes.Status200OK)
        {
            return true;
        }

        context.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            context.Response.Headers.RetryAfter = RetryAfterSeconds;
        }

        return false;
    }

    /// <summary>The <c>Retry-After</c> value of a 503.</summary>
    public const string RetryAfterSeconds = "1";

    /// <summary>
    /// The checks from the request's parts (for a transport without an <see cref="HttpContext"/>): 200 when admitted
    /// (the caller then holds a pending-handshake slot), else the status to answer with: 503 (draining, too many
    /// pending handshakes; send <c>Retry-After: </c><see cref="RetryAfterSeconds"/>) or 403 (foreign Origin).
    /// </summary>
    /// <param name="runtime">The node's runtime.</param>
    /// <param name="origin">The request's <c>Origin</c> values.</param>
    /// <param name="scheme">The request's scheme (<c>http</c> or <c>https</c>).</param>
    /// <param name="host">The request's <c>Host</c>.</param>
    /// <param name="remoteAddress">The peer's address, for the logs.</param>
    /// <param name="originRefused">Logs a refused Origin (origin, remote address).</param>
    /// <param name="tooManyHandshakes">Logs a refusal for too many pending handshakes (the limit, remote address).</param>
    /// <returns>The HTTP status.</returns>
    public static int Admit(
        LifelineRuntime runtime,
        StringValues origin,
        string scheme,
        HostString host,
        string? remoteAddress,
        Action<ILogger, string, string?> originRefused,
        Action<ILogger, int, string?> tooManyHandshakes)
    {
        if (runtime.Draining)
        {
            return StatusCodes.Status503ServiceUnavailable;
        }

        if (!OriginPolicy.IsAllowed(origin, scheme, host, runtime.Options.AllowedOrigins))
        {
            originRefused(runtime.UpgradeLogger, origin.ToString(), remoteAddress);
            return StatusCodes.Status403Forbidden;
        }

        if (!runtime.Limits.TryEnterHandshake(runtime.Options.MaxPendingHandshakes))
        {
            tooManyHandshakes(runtime.UpgradeLogger, runtime.Options.MaxPendingHandshakes, remoteAddress);
            return StatusCodes.Status503ServiceUnavailable;
        }

        return StatusCodes.Status200OK;
    }
}
