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

    /// <summary>The authentication token sent as <c>hello.token</c>, or null to connect anonymously. The default is null.</summary>
    public string? Token { get; set; }

    /// <summary>The client name and version sent as <c>hello.client</c>. The default is lifeline-dotnet/1.0.</summary>
    public string ClientName { get; set; } = DefaultClientName;

    /// <summary>
    /// Decides whether and when to reconnect. When the server closes with 1001 and a <c>retry_after_ms=N</c> reason,
    /// the client waits N ms plus this policy's (jittered) delay. The default is an <see cref="ExponentialBackoffRetryPolicy"/>
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
    /// The clock for every timer of the client: backoff delays, connect and close timeouts, the receive watchdog and
    /// event timestamps. Tests inject a fake one. The default is <see cref="TimeProvider.System"/>.
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Called for every new socket before it connects, to set headers, proxies, certificates or the WebSocket keep-alive.
    /// The default is null (no changes).
    /// </summary>
    public Action<ClientWebSocketOptions>? ConfigureWebSocket { get; set; }

    internal LifelineClientOptions Validate()
    {
        ArgumentNullException.ThrowIfNull(ClientName);
        ArgumentNullException.ThrowIfNull(ReconnectPolicy);
        ArgumentNullException.ThrowIfNull(TimeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThan(WatchdogSlack, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(CloseTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(OfflineQueueLimit, 0);
        return (LifelineClientOptions)MemberwiseClone();
    }
}
