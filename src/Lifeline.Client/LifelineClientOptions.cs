using System.Net.WebSockets;

namespace Lifeline.Client;

/// <summary>
/// Settings of a <see cref="LifelineClient"/>. They are read once, when the client is constructed, and validated then:
/// zero or negative durations and limits are rejected with <see cref="ArgumentOutOfRangeException"/>.
/// </summary>
public sealed class LifelineClientOptions
{
    /// <summary>The default <see cref="ClientName"/>.</summary>
    public const string DefaultClientName = "lifeline-dotnet/1.0";

    /// <summary>The default <see cref="OfflineQueueLimit"/>.</summary>
    public const int DefaultOfflineQueueLimit = 1000;

    /// <summary>The default <see cref="WatchdogSlack"/>: 1 second.</summary>
    public static readonly TimeSpan DefaultWatchdogSlack = TimeSpan.FromSeconds(1);

    /// <summary>The default <see cref="ConnectTimeout"/>: 10 seconds.</summary>
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The default <see cref="CloseTimeout"/>: 1 second.</summary>
    public static readonly TimeSpan DefaultCloseTimeout = TimeSpan.FromSeconds(1);

    /// <summary>The default <see cref="TokenRefreshRatio"/>: 0.8 (refresh when 80% of a token's lifetime has passed).</summary>
    public const double DefaultTokenRefreshRatio = 0.8;

    /// <summary>The default <see cref="UpdateRetryLimit"/>: 10.</summary>
    public const int DefaultUpdateRetryLimit = 10;

    /// <summary>The default <see cref="TokenRefreshMargin"/>: 30 seconds.</summary>
    public static readonly TimeSpan DefaultTokenRefreshMargin = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A fixed authentication token sent as <c>hello.token</c>, or null to connect anonymously: the shorthand for a
    /// <see cref="TokenProvider"/> that always returns the same token. A fixed token is never refreshed: when the server
    /// says it expires (<c>welcome.tokenExpiresInMs</c>), the server closes the connection with 4002 at that moment and
    /// the client reconnects with the same token. Setting both <see cref="Token"/> and <see cref="TokenProvider"/> is
    /// rejected with <see cref="ArgumentException"/> when the client is constructed. The default is null.
    /// </summary>
    public string? Token { get; set; }

    /// <summary>
    /// Supplies the authentication token, for short-lived tokens: called before every connection attempt (its result is
    /// sent as <c>hello.token</c>) and for every refresh on a live connection (sent as <c>refresh.token</c>, ahead of
    /// the expiry the server announced; see <see cref="TokenRefreshRatio"/>). Each call is bounded by
    /// <see cref="ConnectTimeout"/> and receives a token cancelled when the attempt or connection is abandoned.
    /// A provider that throws, returns null, or takes too long fails that connection attempt (it counts as a failed
    /// attempt: the <see cref="ReconnectPolicy"/> decides when to try again, and the <see cref="LifelineClient.Error"/>
    /// event carries the exception with code <see cref="LifelineErrorEventArgs.TokenProviderFailed"/>), or that refresh
    /// (retried until the token expires). Tokens are never logged. Mutually exclusive with <see cref="Token"/>.
    /// The default is null (the fixed <see cref="Token"/>, if any, is used).
    /// </summary>
    public Func<CancellationToken, ValueTask<string?>>? TokenProvider { get; set; }

    /// <summary>
    /// The share of a token's lifetime (from <c>welcome.tokenExpiresInMs</c> or a refresh reply's) after which the client
    /// refreshes it with a token from <see cref="TokenProvider"/>; see also <see cref="TokenRefreshMargin"/>. Must be
    /// greater than 0 and less than 1. The default is 0.8.
    /// </summary>
    public double TokenRefreshRatio { get; set; } = DefaultTokenRefreshRatio;

    /// <summary>
    /// The latest a token is refreshed before it expires: the refresh happens at whichever comes first,
    /// <see cref="TokenRefreshRatio"/> of the lifetime or this long before the expiry (PROTOCOL.md "refresh"), but never
    /// earlier than the smaller of the two: a 3 s token at 2.4 s, a 31 s token at 24.8 s, a 60 s token at 30 s, a 1 h
    /// token at 48 min (the browser client's rule too). The default is 30 seconds.
    /// </summary>
    public TimeSpan TokenRefreshMargin { get; set; } = DefaultTokenRefreshMargin;

    /// <summary>The client name and version sent as <c>hello.client</c>. The default is lifeline-dotnet/1.0.</summary>
    public string ClientName { get; set; } = DefaultClientName;

    /// <summary>
    /// Decides whether and when to reconnect. When the server closes with 1001 and a <c>retry_after_ms=N</c> reason,
    /// the client waits N ms plus this policy's (jittered) delay. After 4002 (token expired) the first attempt is made at
    /// once, without asking the policy; it counts as an attempt. The policy also spaces the tries of a failed token
    /// refresh (reason <c>token_refresh_failed</c>), each capped to fit before the token's expiry. The default is an <see cref="ExponentialBackoffRetryPolicy"/>
    /// (base 1 s, cap 30 s, full jitter, unlimited attempts).
    /// </summary>
    public IRetryPolicy ReconnectPolicy { get; set; } = new ExponentialBackoffRetryPolicy();

    /// <summary>
    /// Added to <c>welcome.heartbeat.intervalMs + timeoutMs</c> to form the receive watchdog's timeout: when nothing at
    /// all is received for that long, the connection is presumed dead, aborted and re-established. The default is 1 second.
    /// </summary>
    public TimeSpan WatchdogSlack { get; set; } = DefaultWatchdogSlack;

    /// <summary>
    /// How long one connection attempt may take, from opening the socket to receiving <c>welcome</c>. The default is 10 seconds.
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = DefaultConnectTimeout;

    /// <summary>
    /// How long a close handshake may take before the socket is aborted (on <see cref="LifelineClient.CloseAsync"/>
    /// and when acknowledging a server's close). The default is 1 second.
    /// </summary>
    public TimeSpan CloseTimeout { get; set; } = DefaultCloseTimeout;

    /// <summary>
    /// The most publishes that may wait for the server's acknowledgement at once, queued while disconnected or in flight.
    /// A publish beyond it fails at once with <see cref="LifelineQueueFullException"/>; nothing is dropped silently. The default is 1000.
    /// </summary>
    public int OfflineQueueLimit { get; set; } = DefaultOfflineQueueLimit;

    /// <summary>
    /// Whether a normal close (1000) sent by the server is followed by a reconnect. PROTOCOL.md: only if the
    /// application asked for it. The default is false.
    /// </summary>
    public bool ReconnectOnNormalClose { get; set; }

    /// <summary>
    /// How many times <see cref="LifelineChannel.UpdateAsync"/> starts over after a conflict (another change reached the
    /// channel between its read and its publish) before it fails with <see cref="LifelineConflictException"/>; 0 tries
    /// once. The default is 10.
    /// </summary>
    public int UpdateRetryLimit { get; set; } = DefaultUpdateRetryLimit;

    /// <summary>
    /// Whether the client listens to the operating system's network signals while it runs
    /// (<see cref="System.Net.NetworkInformation.NetworkChange"/>): when the network becomes available it tries to
    /// connect at once, ending any backoff wait and starting the backoff over (an attempt in flight is started again;
    /// an open connection is probed as for an address change); when it becomes unavailable it abandons the connection (state
    /// <see cref="ClientState.Reconnecting"/>, reason <c>offline</c>; attempts go on with the usual backoff, so a wrong
    /// signal never strands it); when a network address changes it sends a <c>ping</c> of its own and reconnects unless
    /// the <c>pong</c> comes back within the heartbeat timeout (<c>welcome.heartbeat.timeoutMs</c>), or, while not
    /// connected, tries at once. Turn it off where those signals are wrong or unwanted. The default is true.
    /// </summary>
    public bool NetworkAwareness { get; set; } = true;

    /// <summary>
    /// Whether a channel shows this client's publishes before the server confirms them: <see cref="LifelineChannel.GetState()"/>
    /// is then the confirmed state (<see cref="LifelineChannel.GetConfirmedState"/>) with the pending publishes (queued
    /// or in flight, <see cref="LifelineChannel.PendingCount"/>) applied in order; every server delta rebases them; a
    /// refused publish is dropped and <see cref="LifelineChannel.Changed"/> shows the rollback. Changed then fires once
    /// per change of the visible state (<see cref="ChannelChangedEventArgs.Kind"/>); an optimistic change is raised on the
    /// thread that called PublishAsync (before it returns) and a rollback before the publish's task fails, so those two
    /// kinds do not come from the message loop. Off, GetState() is the confirmed state and Changed fires once per
    /// snapshot or delta. The default is false.
    /// </summary>
    public bool Optimistic { get; set; }

    /// <summary>Tests only: the source of network signals (null: <see cref="Internal.SystemNetworkMonitor"/>).</summary>
    internal Internal.INetworkMonitor? NetworkMonitor { get; set; }

    /// <summary>
    /// The clock for every timer of the client: backoff delays, connect and close timeouts, the receive watchdog and
    /// event timestamps. Tests inject a fake one. The default is <see cref="TimeProvider.System"/>.
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Called for every new socket before it connects, to set headers, proxies, certificates or the WebSocket keep-alive.
    /// The default is null (no changes).
    /// </summary>
    public Action<ClientWebSocketOptions>? ConfigureWebSocket { get; set; }

    /// <summary>The default <see cref="TransportProbeInterval"/>: 5 minutes.</summary>
    public static readonly TimeSpan DefaultTransportProbeInterval = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The transports the client may use, in fallback order (PROTOCOL.md "HTTP transport", "Choosing"). The client
    /// starts with the first; it falls back to the next at once when the WebSocket upgrade is refused with an HTTP
    /// status, or the WebSocket opens without a <c>welcome</c> before <see cref="ConnectTimeout"/> twice in a row (to
    /// the stream), or a stream answers but brings no <c>welcome</c> in time (to long polling). What worked is
    /// remembered for the process, per URL. Must not be empty. The default is
    /// <see cref="LifelineTransport.WebSocket"/>, <see cref="LifelineTransport.HttpStream"/>, <see cref="LifelineTransport.HttpPoll"/>.
    /// </summary>
    public IReadOnlyList<LifelineTransport> Transports { get; set; } = [LifelineTransport.WebSocket, LifelineTransport.HttpStream, LifelineTransport.HttpPoll];

    /// <summary>
    /// While a connection runs over HTTP, how often the client tries the WebSocket upgrade in the background; when it
    /// gets through, the client moves back to the WebSocket with a resumed reconnect (nothing lost or repeated). The
    /// default is 5 minutes.
    /// </summary>
    public TimeSpan TransportProbeInterval { get; set; } = DefaultTransportProbeInterval;

    /// <summary>
    /// Called once per HTTP-transport connection with the <see cref="SocketsHttpHandler"/> its requests go through, to set
    /// proxies, certificates, credentials or cookies (the HTTP counterpart of <see cref="ConfigureWebSocket"/>). The
    /// default is null (no changes).
    /// </summary>
    public Action<SocketsHttpHandler>? ConfigureHttpHandler { get; set; }

    /// <summary>
    /// Called for every request of the HTTP transport (stream, send, poll) before it is sent, to add headers such as
    /// <c>Authorization</c>. The default is null (no changes).
    /// </summary>
    public Action<HttpRequestMessage>? ConfigureHttpRequest { get; set; }

    internal LifelineClientOptions Validate()
    {
        ArgumentNullException.ThrowIfNull(ClientName);
        ArgumentNullException.ThrowIfNull(ReconnectPolicy);
        ArgumentNullException.ThrowIfNull(TimeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThan(WatchdogSlack, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(CloseTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(OfflineQueueLimit, 0);
        ArgumentOutOfRangeException.ThrowIfNegative(UpdateRetryLimit);
        ArgumentOutOfRangeException.ThrowIfLessThan(TokenRefreshMargin, TimeSpan.Zero);
        if (!(TokenRefreshRatio > 0 && TokenRefreshRatio < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TokenRefreshRatio), TokenRefreshRatio, "TokenRefreshRatio must be greater than 0 and less than 1");
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(TransportProbeInterval, TimeSpan.Zero);
        ArgumentNullException.ThrowIfNull(Transports);
        if (Transports.Count == 0 || Transports.Any(t => !Enum.IsDefined(t)))
        {
            throw new ArgumentException("Transports must list at least one of WebSocket, HttpStream, HttpPoll", nameof(Transports));
        }

        if (Token is not null && TokenProvider is not null)
        {
            throw new ArgumentException("set either Token (a fixed token) or TokenProvider, not both", nameof(TokenProvider));
        }

        var copy = (LifelineClientOptions)MemberwiseClone();
        copy.Transports = Transports.Distinct().ToArray();
        return copy;
    }
}
