namespace Lifeline.Server;

/// <summary>
/// Settings of a Lifeline server. Every default is a named constant, stated in the property's summary and
/// checked against it by a test; impossible values are refused at start-up by <see cref="LifelineOptionsValidator"/>.
/// Bound from the <c>Lifeline</c> configuration section by <c>lifeline serve</c>.
/// </summary>
public sealed class LifelineOptions
{
    /// <summary>Default of <see cref="HeartbeatInterval"/>: 30 seconds.</summary>
    public static readonly TimeSpan DefaultHeartbeatInterval = TimeSpan.FromSeconds(30);

    /// <summary>Default of <see cref="HeartbeatTimeout"/>: 5 seconds.</summary>
    public static readonly TimeSpan DefaultHeartbeatTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Default of <see cref="HandshakeTimeout"/>: 10 seconds.</summary>
    public static readonly TimeSpan DefaultHandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Default of <see cref="MaxMessageSize"/>: 64 KiB.</summary>
    public const int DefaultMaxMessageSize = 64 * 1024;

    /// <summary>Default of <see cref="SendQueueLimit"/>: 8192 messages.</summary>
    public const int DefaultSendQueueLimit = 8192;

    /// <summary>Default of <see cref="MaxFrameSize"/>: 64 KiB.</summary>
    public const int DefaultMaxFrameSize = 64 * 1024;

    /// <summary>Default of <see cref="CloseHandshakeTimeout"/>: 1 second.</summary>
    public static readonly TimeSpan DefaultCloseHandshakeTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Default of <see cref="DrainTimeout"/>: 10 seconds.</summary>
    public static readonly TimeSpan DefaultDrainTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Default of <see cref="ShutdownRetrySpread"/>: 5 seconds.</summary>
    public static readonly TimeSpan DefaultShutdownRetrySpread = TimeSpan.FromSeconds(5);

    /// <summary>Default of <see cref="DisconnectedHookTimeout"/>: 5 seconds.</summary>
    public static readonly TimeSpan DefaultDisconnectedHookTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Default of <see cref="ResumeWindow"/>: 120 seconds.</summary>
    public static readonly TimeSpan DefaultResumeWindow = TimeSpan.FromSeconds(120);

    /// <summary>Default of <see cref="PresenceGracePeriod"/>: 5 seconds.</summary>
    public static readonly TimeSpan DefaultPresenceGracePeriod = TimeSpan.FromSeconds(5);

    /// <summary>Default of <see cref="MaxChannelNameLength"/>: 128 characters.</summary>
    public const int DefaultMaxChannelNameLength = 128;

    /// <summary>
    /// How often the server sends an application-level <c>ping</c> to each connection.
    /// The default is 30 seconds (<see cref="DefaultHeartbeatInterval"/>).
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = DefaultHeartbeatInterval;

    /// <summary>
    /// How long a <c>pong</c> may take before the connection is closed with 4000 and torn down.
    /// The default is 5 seconds (<see cref="DefaultHeartbeatTimeout"/>).
    /// </summary>
    public TimeSpan HeartbeatTimeout { get; set; } = DefaultHeartbeatTimeout;

    /// <summary>
    /// How long after the upgrade the <c>hello</c> may take; a late hello closes with 1002.
    /// The default is 10 seconds (<see cref="DefaultHandshakeTimeout"/>).
    /// </summary>
    public TimeSpan HandshakeTimeout { get; set; } = DefaultHandshakeTimeout;

    /// <summary>
    /// The largest client message accepted, in bytes; a larger one closes with 1009.
    /// The default is 65536 (<see cref="DefaultMaxMessageSize"/>).
    /// </summary>
    public int MaxMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>
    /// How many messages may wait in one connection's send queue; an overflow marks a slow consumer, closed with 1013.
    /// The default is 8192 (<see cref="DefaultSendQueueLimit"/>).
    /// </summary>
    public int SendQueueLimit { get; set; } = DefaultSendQueueLimit;

    /// <summary>
    /// The most bytes packed into one outgoing frame (several messages separated by line feeds); a single larger
    /// message is sent alone. The default is 65536 (<see cref="DefaultMaxFrameSize"/>).
    /// </summary>
    public int MaxFrameSize { get; set; } = DefaultMaxFrameSize;

    /// <summary>
    /// How long the close handshake may take before the socket is aborted with a TCP reset.
    /// The default is 1 second (<see cref="DefaultCloseHandshakeTimeout"/>).
    /// </summary>
    public TimeSpan CloseHandshakeTimeout { get; set; } = DefaultCloseHandshakeTimeout;

    /// <summary>
    /// How long a graceful shutdown waits for every connection to be closed with 1001.
    /// The default is 10 seconds (<see cref="DefaultDrainTimeout"/>).
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = DefaultDrainTimeout;

    /// <summary>
    /// The window over which the <c>retry_after_ms</c> hints sent with 1001 at shutdown are spread (uniformly at
    /// random), so that clients do not all reconnect at once. The default is 5 seconds (<see cref="DefaultShutdownRetrySpread"/>).
    /// </summary>
    public TimeSpan ShutdownRetrySpread { get; set; } = DefaultShutdownRetrySpread;

    /// <summary>
    /// How long the application's disconnected hook may run before teardown goes on without it.
    /// The default is 5 seconds (<see cref="DefaultDisconnectedHookTimeout"/>).
    /// </summary>
    public TimeSpan DisconnectedHookTimeout { get; set; } = DefaultDisconnectedHookTimeout;

    /// <summary>
    /// How long after its connection ends a session can be resumed with <c>hello.resume</c>.
    /// The default is 120 seconds (<see cref="DefaultResumeWindow"/>).
    /// </summary>
    public TimeSpan ResumeWindow { get; set; } = DefaultResumeWindow;

    /// <summary>
    /// How long after an abnormal close a user's presence lasts, waiting for the session to resume, before the
    /// leave is broadcast (a normal close 1000 leaves at once). The default is 5 seconds (<see cref="DefaultPresenceGracePeriod"/>).
    /// </summary>
    public TimeSpan PresenceGracePeriod { get; set; } = DefaultPresenceGracePeriod;

    /// <summary>
    /// The longest channel name accepted; longer names get <c>invalid_channel</c>.
    /// The default is 128 (<see cref="DefaultMaxChannelNameLength"/>).
    /// </summary>
    public int MaxChannelNameLength { get; set; } = DefaultMaxChannelNameLength;

    /// <summary>The application's connection hooks. The default does nothing.</summary>
    public LifelineEvents Events { get; set; } = new();
}
