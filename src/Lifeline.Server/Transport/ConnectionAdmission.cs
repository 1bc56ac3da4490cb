using Lifeline.Server.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Lifeline.Server.Transport;

/// <summary>
/// The checks every new connection passes before it exists, whatever its transport (the WebSocket upgrade, the HTTP
/// stream): not while draining (503 with <c>Retry-After</c>), not from a foreign Origin (403), not beyond
/// <see cref="LifelineOptions.MaxPendingHandshakes"/> connections waiting for their hello (503). Each transport logs a
/// refusal under its own event id.
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
        if (runtime.Draining)
        {
            Refuse503(context);
            return false;
        }

        if (!OriginPolicy.IsAllowed(context.Request, runtime.Options.AllowedOrigins))
        {
            originRefused(runtime.UpgradeLogger, context.Request.Headers.Origin.ToString(), context.Connection.RemoteIpAddress?.ToString());
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return false;
        }

        if (!runtime.Limits.TryEnterHandshake(runtime.Options.MaxPendingHandshakes))
        {
            tooManyHandshakes(runtime.UpgradeLogger, runtime.Options.MaxPendingHandshakes, context.Connection.RemoteIpAddress?.ToString());
            Refuse503(context);
            return false;
        }

        return true;
    }

    private static void Refuse503(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = "1";
    }
}
