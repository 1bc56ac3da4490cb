namespace Lifeline.Server;

/// <summary>
/// Settings of a Lifeline server. Every default is a named constant, stated in the property's summary and
/// checked against it by a test; impossible values are refused at start-up by <see cref="LifelineOptionsValidator"/>.
/// Bound from the <c>Lifeline</c> configuration section by <c>lifeline serve</c>.
/// </summary>
public sealed class LifelineOptions
{
    /// <summary>
    /// Default of <see cref="HeartbeatInterval"/>: 20 seconds, so that interval + timeout (25 s) stays well inside the
    /// 30 s idle timeout of many proxies and load balancers (issue 19).
    /// </summary>
    public static readonly TimeSpan DefaultHeartbeatInterval = TimeSpan.FromSeconds(20);

    /// <summary>Default of <see cref="HeartbeatTimeout"/>: 5 seconds.</summary>
    public static readonly TimeSpan DefaultHeartbeatTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Default of <see cref="HandshakeTimeout"/>: 10 seconds.</summary>
    public static readonly TimeSpan DefaultHandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Default of <see cref="MaxMessageSize"/>: 64 KiB.</summary>
    public const int DefaultMaxMessageSize = 64 * 1024;

    /// <summary>Default of <see cref="SendQueueLimit"/>: 8192 messages.</summary>
    public const int DefaultSendQueueLimit = 8192;

    /// <summary>Default of <see cref="PublishBacklogLimit"/>: 4 messages.</summary>
    public const int DefaultPublishBacklogLimit = 4;

    /// <summary>Default of <see cref="PublishBacklogTimeout"/>: 1 second.</summary>
    public static readonly TimeSpan DefaultPublishBacklogTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Default of <see cref="MaxFrameSize"/>: 64 KiB.</summary>
    public const int DefaultMaxFrameSize = 64 * 1024;

    /// <summary>Default of <see cref="CloseHandshakeTimeout"/>: 1 second.</summary>
    public static readonly TimeSpan DefaultCloseHandshakeTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the server gives the close frame (4000 <c>heartbeat_timeout</c>) to a peer it has just declared dead
    /// before it aborts the socket with a TCP reset: 100 milliseconds, a constant (at most
    /// <see cref="CloseHandshakeTimeout"/>). Within it the frame is written and, should the peer still be there, its
    /// answer completes a clean close; a cut-off peer costs no more than this, not a whole close handshake.
    /// </summary>
    public static readonly TimeSpan DeadPeerCloseTimeout = TimeSpan.FromMilliseconds(100);

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

    /// <summary>Default of <see cref="MaxMessagesPerSecond"/>: 200 messages per second.</summary>
    public const int DefaultMaxMessagesPerSecond = 200;

    /// <summary>Default of <see cref="MessageBurst"/>: 1000 messages.</summary>
    public const int DefaultMessageBurst = 1000;

    /// <summary>Default of <see cref="RateLimitAbuseThreshold"/>: 100 refused messages.</summary>
    public const int DefaultRateLimitAbuseThreshold = 100;

    /// <summary>Default of <see cref="MaxSubscriptionsPerConnection"/>: 256 channels.</summary>
    public const int DefaultMaxSubscriptionsPerConnection = 256;

    /// <summary>Default of <see cref="MaxConnectionsPerUser"/>: 100 connections.</summary>
    public const int DefaultMaxConnectionsPerUser = 100;

    /// <summary>Default of <see cref="MaxConnectionsPerAddress"/>: 1000 connections.</summary>
    public const int DefaultMaxConnectionsPerAddress = 1000;

    /// <summary>Default of <see cref="MaxJsonDepth"/>: 32 levels.</summary>
    public const int DefaultMaxJsonDepth = 32;

    /// <summary>Default of <see cref="MaxPatchSize"/>: 32 KiB.</summary>
    public const int DefaultMaxPatchSize = 32 * 1024;

    /// <summary>Default of <see cref="MaxPendingHandshakes"/>: 1000 connections.</summary>
    public const int DefaultMaxPendingHandshakes = 1000;

    /// <summary>
    /// How often the server sends an application-level <c>ping</c> to each connection.
    /// The default is 20 seconds (<see cref="DefaultHeartbeatInterval"/>).
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
    /// Whether <c>MapLifeline</c> also maps the HTTP transport next to the WebSocket endpoint (PROTOCOL.md "HTTP
    /// transport": <c>POST {path}/stream</c>, <c>POST {path}/send</c>, <c>POST {path}/poll</c>), the fallback for
    /// networks that refuse WebSockets. Read when <c>MapLifeline</c> runs. The default is true.
    /// </summary>
    public bool EnableHttpTransport { get; set; } = true;

    /// <summary>
    /// How many messages may wait in one connection's send queue; an overflow marks a slow consumer, closed with 1013.
    /// Events are queued only while at most half this many wait (PROTOCOL.md: a queue over half full drops them), user
    /// messages while fewer than three quarters (both are dropped and counted beyond that, never a reason to close).
    /// A subscribe's catch-up (the deltas recovered from the history) counts as one entry per <see cref="MaxFrameSize"/>
    /// bytes, not one per delta. The default is 8192 (<see cref="DefaultSendQueueLimit"/>).
    /// </summary>
    public int SendQueueLimit { get; set; } = DefaultSendQueueLimit;

    /// <summary>
    /// Publisher flow control: after a publish, the publisher is held (<see cref="LifelineServer.PublishAsync"/> does not
    /// return yet; a client's connection reads its next message only then) while more than half of the channel's
    /// subscribers on this node have more than this many messages waiting in their send queue. Under a burst a delivery
    /// then waits about this many messages' worth of writing, not the whole burst. A subscriber over the limit whose
    /// writer has been running for <see cref="PublishBacklogTimeout"/> without emptying its queue does not count (a
    /// reader that stopped, or a link slower than the publish rate, is left to <see cref="SendQueueLimit"/> and 1013),
    /// nor does one publish wait longer than <see cref="PublishBacklogTimeout"/>. 0 turns flow control off (the publisher runs ahead of the writers); a value
    /// at or above <see cref="SendQueueLimit"/> never holds anyone. The default is 4 (<see cref="DefaultPublishBacklogLimit"/>).
    /// </summary>
    public int PublishBacklogLimit { get; set; } = DefaultPublishBacklogLimit;

    /// <summary>
    /// Publisher flow control (<see cref="PublishBacklogLimit"/>): the longest one publish is held, and how long a
    /// subscriber over the limit may keep its writer busy without once emptying its queue before it stops counting (a
    /// subscriber that stopped reading, or reads more slowly than the publisher publishes, never holds a publisher
    /// longer than this). The default is 1 second (<see cref="DefaultPublishBacklogTimeout"/>).
    /// </summary>
    public TimeSpan PublishBacklogTimeout { get; set; } = DefaultPublishBacklogTimeout;

    /// <summary>
    /// The most bytes packed into one outgoing frame (several messages separated by line feeds); a single larger
    /// message is sent alone. The default is 65536 (<see cref="DefaultMaxFrameSize"/>).
    /// </summary>
    public int MaxFrameSize { get; set; } = DefaultMaxFrameSize;

    /// <summary>
    /// How long the close handshake may take before the socket is aborted with a TCP reset. A connection closed for a
    /// heartbeat timeout gets <see cref="DeadPeerCloseTimeout"/> instead (its peer was just declared dead).
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

    /// <summary>
    /// Browser origins (<c>scheme://host[:port]</c>, for example <c>https://app.example.com</c>) allowed to open a
    /// WebSocket in addition to the server's own origin (same-origin is always allowed). An entry ending in <c>:*</c>
    /// (for example <c>http://localhost:*</c>) allows any port; the single entry <c>*</c> allows every origin (turns
    /// the check off). An upgrade whose <c>Origin</c> header is refused gets HTTP 403 before the WebSocket is accepted.
    /// Requests without an <c>Origin</c> header (non-browser clients, which cannot be hijacked cross-site) are allowed.
    /// The default is empty: same-origin only.
    /// </summary>
    public IList<string> AllowedOrigins { get; } = [];

    /// <summary>
    /// The sustained rate of client messages per connection (a token bucket refilled at this rate, holding at most
    /// <see cref="MessageBurst"/>); messages over it get <c>rate_limited</c> (<c>pong</c> is never refused).
    /// The default is 200 (<see cref="DefaultMaxMessagesPerSecond"/>).
    /// </summary>
    public int MaxMessagesPerSecond { get; set; } = DefaultMaxMessagesPerSecond;

    /// <summary>
    /// How many client messages a connection may send at once before <see cref="MaxMessagesPerSecond"/> applies
    /// (the token bucket's size). The default is 1000 (<see cref="DefaultMessageBurst"/>).
    /// </summary>
    public int MessageBurst { get; set; } = DefaultMessageBurst;

    /// <summary>
    /// Abuse of the rate limit: when more than this many messages of a connection were refused with
    /// <c>rate_limited</c> with no full second free of refusals between them, the connection is closed with 1008
    /// (<c>rate_limit_abused</c>). The default is 100 (<see cref="DefaultRateLimitAbuseThreshold"/>).
    /// </summary>
    public int RateLimitAbuseThreshold { get; set; } = DefaultRateLimitAbuseThreshold;

    /// <summary>
    /// The most channels one connection may be subscribed to at once; a subscribe beyond it gets
    /// <c>limit_exceeded</c>. The default is 256 (<see cref="DefaultMaxSubscriptionsPerConnection"/>).
    /// </summary>
    public int MaxSubscriptionsPerConnection { get; set; } = DefaultMaxSubscriptionsPerConnection;

    /// <summary>
    /// The most open connections of one authenticated user across every node (counted by the engine's connection
    /// slots); one more is closed with 1008 (<c>too_many_connections</c>) after its hello. The default is 100 (<see cref="DefaultMaxConnectionsPerUser"/>).
    /// </summary>
    public int MaxConnectionsPerUser { get; set; } = DefaultMaxConnectionsPerUser;

    /// <summary>
    /// The most connections from one remote IP address across every node (counted by the engine's connection slots;
    /// behind a reverse proxy, configure the
    /// forwarded-headers middleware so that this is the client's address); one more is closed with 1008
    /// (<c>too_many_connections</c>). The default is 1000 (<see cref="DefaultMaxConnectionsPerAddress"/>).
    /// </summary>
    public int MaxConnectionsPerAddress { get; set; } = DefaultMaxConnectionsPerAddress;

    /// <summary>
    /// The deepest JSON nesting accepted in a client message; a deeper one closes with 1007.
    /// The default is 32 (<see cref="DefaultMaxJsonDepth"/>).
    /// </summary>
    public int MaxJsonDepth { get; set; } = DefaultMaxJsonDepth;

    /// <summary>
    /// The largest <c>publish.patch</c> accepted, in UTF-8 bytes of its JSON text; a larger one gets
    /// <c>limit_exceeded</c>. The default is 32768 (<see cref="DefaultMaxPatchSize"/>).
    /// </summary>
    public int MaxPatchSize { get; set; } = DefaultMaxPatchSize;

    /// <summary>
    /// The most connections that may be waiting for their <c>hello</c> at once on this server; further upgrade
    /// requests are refused with HTTP 503 (and <c>Retry-After: 1</c>) before the WebSocket is accepted.
    /// The default is 1000 (<see cref="DefaultMaxPendingHandshakes"/>).
    /// </summary>
    public int MaxPendingHandshakes { get; set; } = DefaultMaxPendingHandshakes;

    /// <summary>The application's connection hooks. The default does nothing.</summary>
    public LifelineEvents Events { get; set; } = new();
}
