namespace Lifeline.Client;

/// <summary>
/// The states of a <see cref="LifelineClient"/> (PROTOCOL.md "Reconnection"). The only moves are
/// <c>Closed -&gt; Connecting</c> (<see cref="LifelineClient.ConnectAsync"/>), <c>Connecting -&gt; Open</c>,
/// <c>Connecting -&gt; Reconnecting</c> (a first attempt failed and will be retried), <c>Open -&gt; Reconnecting</c>,
/// <c>Reconnecting -&gt; Open</c>, and any state but <see cref="Closed"/> <c>-&gt; Closed</c>.
/// </summary>
public enum ClientState
{
    /// <summary>
    /// <see cref="LifelineClient.ConnectAsync"/> was called and the first connection attempt is in flight.
    /// </summary>
    Connecting,

    /// <summary>The server sent <c>welcome</c>: channels were re-subscribed and queued publishes were sent.</summary>
    Open,

    /// <summary>The connection was lost (or a first attempt failed); the client waits for the retry policy's delay or tries again.</summary>
    Reconnecting,

    /// <summary>
    /// Not connected and not trying to: the initial state, and the state after <see cref="LifelineClient.CloseAsync"/>,
    /// a non-retryable close code, or a retry policy that gave up.
    /// </summary>
    Closed,
}
