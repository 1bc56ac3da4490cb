using Microsoft.AspNetCore.Http.Features;

namespace Lifeline.Server.Transport;

/// <summary>
/// Lets the connection's teardown decide how the TCP connection ends. The WebSockets middleware wraps the upgraded
/// stream so that disposing a WebSocket that did not finish its close handshake aborts the request, which Kestrel
/// turns into a TCP reset. When the WebSocket layer itself refused the peer's input (invalid UTF-8, a malformed
/// frame), it has just written its close frame (1007/1002) into the output pipe, and that reset would race it: the
/// peer would see 1006 instead of the documented code. In that one case teardown closes the gate, the abort is
/// dropped and the request ends gracefully (flush, then FIN). Every other abort passes through.
/// </summary>
internal sealed class AbortGate(IHttpRequestLifetimeFeature inner) : IHttpRequestLifetimeFeature
{
    private volatile bool _suppressed;

    public CancellationToken RequestAborted
    {
        get => inner.RequestAborted;
        set => inner.RequestAborted = value;
    }

    /// <summary>Drops aborts from now on; the request then ends gracefully when the handler returns.</summary>
    public void Suppress() => _suppressed = true;

    public void Abort()
    {
        if (!_suppressed)
        {
            inner.Abort();
        }
    }
}
