using System.Collections.Concurrent;

namespace Lifeline.Client.Internal;

/// <summary>
/// Which transport the next connection attempt uses (PROTOCOL.md "HTTP transport", "Choosing"; the browser client's
/// transportLadder.ts has the same rules): the WebSocket first; the HTTP stream when the upgrade is refused with an HTTP
/// status, or the WebSocket opens without a <c>welcome</c> before the connect timeout twice in a row; long polling when
/// a stream answers but delivers no <c>welcome</c> in time. What worked is remembered for the process (per URL), so a
/// later client or reconnect starts there; the client moves back to the WebSocket through its background probe.
/// Used by the supervisor only (one attempt at a time), so it needs no lock of its own.
/// </summary>
internal sealed class TransportLadder
{
    private static readonly ConcurrentDictionary<string, LifelineTransport> RememberedByUrl = new(StringComparer.Ordinal);

    private readonly string _url;
    private readonly LifelineTransport[] _allowed;
    private int _silentOpens;

    public TransportLadder(Uri url, IReadOnlyList<LifelineTransport> allowed)
    {
        _url = url.AbsoluteUri;
        _allowed = allowed.Distinct().ToArray();
        Next = RememberedByUrl.TryGetValue(_url, out var remembered) && _allowed.Contains(remembered) ? remembered : _allowed[0];
    }

    /// <summary>The transport of the next attempt.</summary>
    public LifelineTransport Next { get; private set; }

    /// <summary>True when the next attempt goes at once: it falls back to another transport, or moves back to the WebSocket.</summary>
    public bool Immediate { get; private set; }

    /// <summary>True when the WebSocket is allowed and <paramref name="current"/> is not it: the background probe runs.</summary>
    public bool Probes(LifelineTransport current) => current != LifelineTransport.WebSocket && _allowed.Contains(LifelineTransport.WebSocket);

    /// <summary>Reads and clears <see cref="Immediate"/>.</summary>
    public bool TakeImmediate()
    {
        var immediate = Immediate;
        Immediate = false;
        return immediate;
    }

    /// <summary>An attempt on <paramref name="kind"/> got its <c>welcome</c>: remember it.</summary>
    public void Welcomed(LifelineTransport kind)
    {
        Next = kind;
        _silentOpens = 0;
        RememberedByUrl[_url] = kind;
    }

    /// <summary>The background probe reached the WebSocket: the next attempt uses it, at once.</summary>
    public void SwitchToWebSocket()
    {
        if (_allowed.Contains(LifelineTransport.WebSocket))
        {
            Next = LifelineTransport.WebSocket;
            Immediate = true;
        }
    }

    /// <summary>
    /// An attempt ended before its <c>welcome</c>. Returns the transport the next attempt falls back to (it goes at once),
    /// or null when the next attempt waits for the backoff as usual.
    /// </summary>
    /// <param name="transport">The attempt's transport.</param>
    /// <param name="timedOut">The attempt ended by the connect timeout (no welcome in time).</param>
    public LifelineTransport? Failed(IClientTransport transport, bool timedOut)
    {
        var kind = transport.Kind;
        if (kind == LifelineTransport.WebSocket)
        {
            if (transport.UpgradeRefused)
            {
                return FallFrom(kind);
            }

            if (transport.Opened && timedOut && ++_silentOpens >= 2)
            {
                return FallFrom(kind);
            }

            if (transport.Opened && timedOut)
            {
                return null;
            }
        }
        else if (kind == LifelineTransport.HttpStream && transport.Opened && timedOut)
        {
            // The stream answered but nothing came through in time: a proxy buffers it.
            return FallFrom(kind);
        }

        // The endpoint did not answer (server down, no HTTP transport): unless this transport worked before, start the
        // ladder again from the top on the next (backed-off) attempt.
        if (!RememberedByUrl.TryGetValue(_url, out var remembered) || remembered != kind)
        {
            Next = _allowed[0];
            _silentOpens = 0;
        }

        return null;
    }

    private LifelineTransport? FallFrom(LifelineTransport kind)
    {
        var index = Array.IndexOf(_allowed, kind);
        if (index < 0 || index + 1 >= _allowed.Length)
        {
            return null;
        }

        Next = _allowed[index + 1];
        Immediate = true;
        _silentOpens = 0;
        return Next;
    }

    /// <summary>Forgets what every URL remembered (tests).</summary>
    internal static void ForgetAll() => RememberedByUrl.Clear();

    /// <summary>Forgets what one URL remembered (tests that restart a server on the same port).</summary>
    internal static void Forget(Uri url) => RememberedByUrl.TryRemove(url.AbsoluteUri, out _);
}
