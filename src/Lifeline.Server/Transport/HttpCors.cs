using Lifeline.Server.Connections;
using Microsoft.AspNetCore.Http;

namespace Lifeline.Server.Transport;

/// <summary>
/// Cross-origin requests of the HTTP transport (PROTOCOL.md "HTTP transport": Origin checks are the same as for the
/// WebSocket endpoint). A page of another origin that <see cref="LifelineOptions.AllowedOrigins"/> allows may open a
/// WebSocket; over HTTP its browser also needs CORS: a preflight (<c>OPTIONS</c>, since the requests carry
/// <c>Content-Type: application/json</c> and <c>Lifeline-Send</c>) and <c>Access-Control-Allow-Origin</c> on every
/// answer. Same-origin requests and requests without <c>Origin</c> need nothing; a refused origin gets no CORS headers
/// (its browser then refuses the request, and <c>POST {path}/stream</c> answers 403 as the upgrade does).
/// </summary>
internal static class HttpCors
{
    /// <summary>How long a browser may cache a preflight answer, in seconds.</summary>
    public const string MaxAgeSeconds = "600";

    /// <summary>
    /// Adds <c>Access-Control-Allow-Origin</c> (and <c>Vary: Origin</c>) to the answer of a cross-origin request from
    /// an allowed origin. Call before the response starts.
    /// </summary>
    /// <returns>True when the request is cross-origin and allowed.</returns>
    public static bool AllowOrigin(HttpContext context, LifelineRuntime runtime)
    {
        var request = context.Request;
        var origin = request.Headers.Origin;
        if (origin.Count != 1
            || OriginPolicy.IsAllowed(origin, request.Scheme, request.Host, Array.Empty<string>()) // same origin: no CORS needed
            || !OriginPolicy.IsAllowed(origin, request.Scheme, request.Host, runtime.Options.AllowedOrigins))
        {
            return false;
        }

        context.Response.Headers.AccessControlAllowOrigin = origin;
        context.Response.Headers.Append("Vary", "Origin");
        return true;
    }

    /// <summary>
    /// <c>OPTIONS {path}/stream</c>, <c>/send</c>, <c>/poll</c>: 204 with the CORS answers for an allowed cross-origin
    /// page (method <c>POST</c>, headers <c>Content-Type</c> and <c>Lifeline-Send</c>), 403 for any other.
    /// </summary>
    public static Task PreflightAsync(HttpContext context, LifelineRuntime runtime)
    {
        if (!AllowOrigin(context, runtime))
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return Task.CompletedTask;
        }

        var headers = context.Response.Headers;
        headers.AccessControlAllowMethods = "POST";
        headers.AccessControlAllowHeaders = "Content-Type, " + HttpEndpoint.SendHeader;
        headers.AccessControlMaxAge = MaxAgeSeconds;
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        return Task.CompletedTask;
    }
}
