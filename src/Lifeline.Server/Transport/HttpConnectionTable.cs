using System.Collections.Concurrent;

namespace Lifeline.Server.Transport;

/// <summary>
/// The live HTTP connections of this node by send capability (<c>welcome.send</c>): how <c>POST {path}/send</c> and
/// <c>POST {path}/poll</c> find their connection. A connection leaves it when its transport closes, so an ended
/// connection's capability answers 404 at once.
/// </summary>
internal sealed class HttpConnectionTable
{
    private readonly ConcurrentDictionary<string, HttpTransport> _bySecret = new(StringComparer.Ordinal);

    /// <summary>Connections in the table.</summary>
    public int Count => _bySecret.Count;

    /// <summary>Adds a new connection's transport.</summary>
    public void Add(HttpTransport transport) => _bySecret[transport.Secret] = transport;

    /// <summary>Removes a transport (idempotent).</summary>
    public void Remove(HttpTransport transport) => _bySecret.TryRemove(new KeyValuePair<string, HttpTransport>(transport.Secret, transport));

    /// <summary>The live transport of <paramref name="secret"/>, or null (missing, unknown or ended).</summary>
    public HttpTransport? Find(string? secret)
    {
        // 144 random bits: a guess cannot match, and the hash lookup reveals nothing useful about a near miss.
        return string.IsNullOrEmpty(secret) || secret.Length > 64 || !_bySecret.TryGetValue(secret, out var transport) || transport.IsEnded
            ? null
            : transport;
    }
}
