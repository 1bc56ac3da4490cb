using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Lifeline.Server.Transport;

/// <summary>
/// The check against cross-site WebSocket hijacking: a browser always sends <c>Origin</c> with an upgrade, so a page
/// of another site is refused unless its origin is the server's own or listed in <see cref="LifelineOptions.AllowedOrigins"/>.
/// Requests without <c>Origin</c> (non-browser clients) are allowed: they cannot carry a victim's cookies cross-site.
/// </summary>
internal static class OriginPolicy
{
    /// <summary>True when <paramref name="entry"/> is <c>*</c> or an absolute http(s) origin, its port possibly <c>*</c>.</summary>
    public static bool IsValidEntry(string? entry)
    {
        if (entry is null)
        {
            return false;
        }

        return entry == "*" || TryParse(entry, out _, out _, out _);
    }

    /// <summary>Decides an upgrade request.</summary>
    public static bool IsAllowed(HttpRequest request, IList<string> allowed) =>
        IsAllowed(request.Headers.Origin, request.Scheme, request.Host, allowed);

    /// <summary>
    /// Decides a request from its parts (the lean listener has no <see cref="HttpRequest"/>): its <c>Origin</c> values,
    /// its scheme and its <c>Host</c>.
    /// </summary>
    public static bool IsAllowed(StringValues origin, string scheme, HostString ownHost, IList<string> allowed)
    {
        if (origin.Count == 0)
        {
            return true;
        }

        if (origin.Count > 1 || !TryParse(origin[0]!, out var originScheme, out var host, out var port) || port is null)
        {
            return false; // "null" (opaque origins: sandboxed frames, file://), garbage, or several values
        }

        // Same origin: the page was served by this very host.
        var ownPort = ownHost.Port ?? DefaultPort(scheme);
        if (string.Equals(originScheme, scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(host, NormalizeHost(ownHost.Host), StringComparison.OrdinalIgnoreCase)
            && port == ownPort)
        {
            return true;
        }

        foreach (var entry in allowed)
        {
            if (entry == "*")
            {
                return true;
            }

            if (TryParse(entry, out var s, out var h, out var p)
                && string.Equals(s, originScheme, StringComparison.OrdinalIgnoreCase)
                && string.Equals(h, host, StringComparison.OrdinalIgnoreCase)
                && (p is null || p == port))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Parses <c>scheme://host[:port]</c>; a port of <c>*</c> gives a null port (any).</summary>
    private static bool TryParse(string text, out string scheme, out string host, out int? port)
    {
        scheme = host = string.Empty;
        port = null;
        var anyPort = text.EndsWith(":*", StringComparison.Ordinal);
        var candidate = anyPort ? text[..^2] : text.TrimEnd('/');
        if (!Uri.TryCreate(candidate, UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https")
            || uri.PathAndQuery != "/" || uri.UserInfo.Length != 0 || uri.Fragment.Length != 0
            || string.IsNullOrEmpty(uri.Host))
        {
            return false;
        }

        if (anyPort && !uri.IsDefaultPort)
        {
            return false; // "http://host:80:*" is not an origin
        }

        scheme = uri.Scheme;
        host = NormalizeHost(uri.Host);
        port = anyPort ? null : uri.Port;
        return true;
    }

    private static string NormalizeHost(string host) => host.Trim('[', ']');

    private static int DefaultPort(string scheme) => string.Equals(scheme, "https", StringComparison.OrdinalIgnoreCase) ? 443 : 80;
}
