using System.Globalization;
using Lifeline.Engine;
using Lifeline.Protocol;
using Lifeline.Server;

namespace Lifeline.Cli.Serve;

/// <summary>
/// Every setting of <c>lifeline serve</c>, each declared once: configuration key (section <c>Lifeline</c>, environment
/// variable <c>Lifeline__{Key}</c>), flag, kind (parser), default, help text, checks and where it applies. The options
/// of <c>serve</c> (in this order in <c>serve --help</c>), the configuration readers, the resolution (flag, else
/// configuration, else default) and the copies into the server's and engines' options all come from here
/// (<see cref="ServeSettings"/>, <see cref="Commands.ServeCommand"/>). A new setting is one more entry (and its line in
/// the README, which a test checks).
/// </summary>
internal static class ServeSettingTable
{
    // Filled by Add in declaration order (static initializers run top to bottom): this list must stay first.
    private static readonly List<ServeSetting> Entries = [];

    public static readonly ServeSetting<string> Bind = Add(new ServeSetting<string>(nameof(Bind), SettingKinds.Text, "127.0.0.1")
    {
        Flag = "--bind",
        HelpName = "address",
        Help = "IP address or host name to listen on; 0.0.0.0 listens on every IPv4 interface. Default: {default} (loopback only).",
        ToHost = true,
    });

    public static readonly ServeSetting<int> Port = Add(new ServeSetting<int>(nameof(Port), SettingKinds.WholeNumber, 8080)
    {
        Flag = "--port",
        HelpName = "port",
        Help = "TCP port to listen on (0: any free port, printed at start-up). Default: {default}.",
        Validate = v => v is < 0 or > 65535 ? $"port must be between 0 and 65535 (was {v.ToString(CultureInfo.InvariantCulture)})" : null,
        ToHost = true,
    });

    public static readonly ServeSetting<string> Path = Add(new ServeSetting<string>(nameof(Path), SettingKinds.Text, ProtocolConstants.DefaultPath)
    {
        Flag = "--path",
        HelpName = "path",
        Help = "Path of the WebSocket endpoint. Default: {default}.",
        Validate = v => v.StartsWith('/') ? null : $"path must start with '/' (was '{v}')",
        ToHost = true,
    });

    public static readonly ServeSetting<TimeSpan> HeartbeatInterval = Add(new ServeSetting<TimeSpan>(nameof(HeartbeatInterval), SettingKinds.Duration, LifelineOptions.DefaultHeartbeatInterval)
    {
        Flag = "--heartbeat-interval",
        Help = "How often the server sends a ping to each connection. Default: {default}.",
        ToServer = (o, v) => o.HeartbeatInterval = v,
        ToHost = true, // the start-up line
    });

    public static readonly ServeSetting<TimeSpan> HeartbeatTimeout = Add(new ServeSetting<TimeSpan>(nameof(HeartbeatTimeout), SettingKinds.Duration, LifelineOptions.DefaultHeartbeatTimeout)
    {
        Flag = "--heartbeat-timeout",
        Help = "How long a pong may take before the connection is closed with 4000 (heartbeat_timeout). Default: {default}.",
        ToServer = (o, v) => o.HeartbeatTimeout = v,
        ToHost = true, // the start-up line
    });

    public static readonly ServeSetting<TimeSpan> HandshakeTimeout = Add(new ServeSetting<TimeSpan>(nameof(HandshakeTimeout), SettingKinds.Duration, LifelineOptions.DefaultHandshakeTimeout)
    {
        Flag = "--handshake-timeout",
        Help = "How long a client may take to send hello after the upgrade; later: close 1002 (hello_timeout). Default: {default}.",
        ToServer = (o, v) => o.HandshakeTimeout = v,
        ToHost = true, // Kestrel's keep-alive and request-headers timeouts (ServeHost.ApplyConnectionLimits)
    });

    public static readonly ServeSetting<int> MaxMessageSize = Add(new ServeSetting<int>(nameof(MaxMessageSize), SettingKinds.Size, LifelineOptions.DefaultMaxMessageSize)
    {
        Flag = "--max-message-size",
        Help = "Largest client message accepted, in bytes, or with a KiB/MiB suffix (65536, 64KiB, 1MiB); larger: close 1009. Default: {default}.",
        ToServer = (o, v) => o.MaxMessageSize = v,
    });

    public static readonly ServeSetting<OnOff> HttpTransport = Add(new ServeSetting<OnOff>(nameof(HttpTransport), SettingKinds.Choice<OnOff>(), OnOff.On)
    {
        Flag = "--http-transport",
        Help = "Whether the HTTP transport (POST {path}/stream, /send, /poll: Server-Sent Events and long polling, for networks "
            + "that refuse WebSockets) is served next to the WebSocket endpoint. Default: {default}.",
        ToServer = (o, v) => o.EnableHttpTransport = v == OnOff.On,
    });

    public static readonly ServeSetting<ListenerKind> Listener = Add(new ServeSetting<ListenerKind>(nameof(Listener), SettingKinds.Choice<ListenerKind>(), ListenerKind.Lean)
    {
        Flag = "--listener",
        Help = "How WebSocket upgrades to --path are taken. lean: Lifeline does the HTTP/1.1 upgrade itself in Kestrel connection "
            + "middleware (UseLifeline), so an idle connection holds no HTTP objects (less memory per connection); no ASP.NET Core "
            + "middleware runs for the upgrade, which serve does not need (hello.token carries authentication). standard: through "
            + "ASP.NET Core's HTTP pipeline (MapLifeline). Everything else on the port (the HTTP transport, /metrics, /healthz, the "
            + "demo) is served the same either way. Default: {default}.",
        ToHost = true, // the Kestrel endpoint's connection middleware
    });

    public static readonly ServeSetting<AuthMode> Auth = Add(new ServeSetting<AuthMode>(nameof(Auth), SettingKinds.Choice<AuthMode>(), AuthMode.Anonymous)
    {
        Flag = "--auth",
        Help = "How hello.token is authenticated. anonymous: tokens are ignored, every client is anonymous. "
            + "dev: the token is taken as the user id, unchecked; FOR DEVELOPMENT AND TESTS ONLY, anyone can claim to be anyone. "
            + "jwt: the token is a signed JWT checked with --jwt-key-file (exp required; sub is the user id; an optional channels claim, "
            + "an array of patterns such as room:* or user:alice, limits subscribe, publish and presence to matching channels). Default: {default}.",
        ToHost = true, // the authenticator
    });

    public static readonly ServeSetting<string?> JwtKeyFile = Add(new ServeSetting<string?>(nameof(JwtKeyFile), SettingKinds.OptionalText, null)
    {
        Flag = "--jwt-key-file",
        HelpName = "file",
        Help = "With --auth jwt: the key that checks token signatures. A PEM public key (RSA: RS256, EC P-256: ES256), "
            + "or else a shared secret of at least 32 bytes (HS256/384/512; trailing white space is ignored). Default: {default}.",
        ToHost = true, // the authenticator
    });

    public static readonly ServeSetting<string?> JwtIssuer = Add(new ServeSetting<string?>(nameof(JwtIssuer), SettingKinds.OptionalText, null)
    {
        Flag = "--jwt-issuer",
        HelpName = "issuer",
        Help = "With --auth jwt: the iss a token must carry. Default: {default} (any issuer).",
        ToHost = true, // the authenticator
    });

    public static readonly ServeSetting<string?> JwtAudience = Add(new ServeSetting<string?>(nameof(JwtAudience), SettingKinds.OptionalText, null)
    {
        Flag = "--jwt-audience",
        HelpName = "audience",
        Help = "With --auth jwt: the aud a token must carry (a string, or one of an array). Default: {default} (any audience).",
        ToHost = true, // the authenticator
    });

    public static readonly ServeSetting<LogFormat> LogFormat = Add(new ServeSetting<LogFormat>(nameof(LogFormat), SettingKinds.Choice<LogFormat>(), Serve.LogFormat.Text)
    {
        Flag = "--log-format",
        Help = "Console log format. text: one line per event, starting with a millisecond UTC timestamp. "
            + "json: one JSON object per line (Timestamp with milliseconds, EventId, LogLevel, Category, Message, State). Default: {default}.",
        ToHost = true,
    });

    public static readonly ServeSetting<bool> TestEndpoints = Add(new ServeSetting<bool>(nameof(TestEndpoints), SettingKinds.Switch, false)
    {
        Flag = "--test-endpoints",
        Help = "FOR TESTS ONLY: enable POST /_test/pause-pings and POST /_test/resume-pings, which stop and restart the server's pings "
            + "so that client tests can show their receive watchdog detects a silent server. Off by default.",
        ToHost = true,
    });

    public static readonly ServeSetting<int> HistorySize = Add(new ServeSetting<int>(nameof(HistorySize), SettingKinds.WholeNumber, MemoryEngineOptions.DefaultHistorySize)
    {
        Flag = "--history-size",
        HelpName = "count",
        Help = "How many deltas each channel keeps for recovery (subscribe with since); older ones are answered with a snapshot. Default: {default}.",
        Validate = v => v < 1 ? $"history size must be at least 1 (was {v.ToString(CultureInfo.InvariantCulture)})" : null,
        ToMemoryEngine = (o, v) => o.HistorySize = v,
    });

    public static readonly ServeSetting<TimeSpan> HistoryAge = Add(new ServeSetting<TimeSpan>(nameof(HistoryAge), SettingKinds.Duration, TimeSpan.FromSeconds(MemoryEngineOptions.DefaultHistoryAgeSeconds))
    {
        Flag = "--history-age",
        Help = "How long each channel keeps a delta for recovery. Default: {default}.",
        Validate = v => v <= TimeSpan.Zero ? "history age must be positive" : null,
        ToMemoryEngine = (o, v) => o.HistoryAge = v,
    });

    public static readonly ServeSetting<TimeSpan> ResumeWindow = Add(new ServeSetting<TimeSpan>(nameof(ResumeWindow), SettingKinds.Duration, LifelineOptions.DefaultResumeWindow)
    {
        Flag = "--resume-window",
        Help = "How long after a connection ends its session can be resumed with hello.resume; publish idempotency keys are remembered as long. Default: {default}.",
        ToServer = (o, v) => o.ResumeWindow = v,
        ToMemoryEngine = (o, v) => o.IdempotencyWindow = v,
    });

    public static readonly ServeSetting<TimeSpan> PresenceGrace = Add(new ServeSetting<TimeSpan>(nameof(PresenceGrace), SettingKinds.Duration, LifelineOptions.DefaultPresenceGracePeriod)
    {
        Flag = "--presence-grace",
        Help = "How long after an abnormal close a user stays present, waiting for a resume, before the leave is broadcast (a normal close leaves at once). Default: {default}.",
        Validate = v => v < TimeSpan.Zero ? "presence grace must not be negative" : null,
        ToServer = (o, v) => o.PresenceGracePeriod = v,
    });

    public static readonly ServeSetting<string?> Redis = Add(new ServeSetting<string?>(nameof(Redis), SettingKinds.OptionalText, null)
    {
        Flag = "--redis",
        HelpName = "host:port",
        Help = "Run as one node of several on Redis (the Redis engine: fan-out across nodes, shared history, presence and sessions), "
            + "for example localhost:6379 or a StackExchange.Redis configuration string such as host1:7000,host2:7000 for a cluster. "
            + "Redis being down does not stop the node: publishes fail with unavailable and /healthz says degraded. Default: {default} (the embedded in-memory engine, one node).",
        ToRedisEngine = (o, v) => o.Configuration = v!,
        ToHost = true, // set: the Redis engine instead of the in-memory one
    });

    public static readonly ServeSetting<string?> ApiKeyFile = Add(new ServeSetting<string?>(nameof(ApiKeyFile), SettingKinds.OptionalText, null)
    {
        Flag = "--api-key-file",
        HelpName = "file",
        Help = "Enable the server API for backends under /api (POST /api/publish, POST /api/emit, POST /api/send, POST /api/disconnect, GET /api/channels/{name}, "
            + "GET /api/presence/{name}; OpenAPI document at /api/openapi.json): each request needs Authorization: Bearer KEY, a key of this file "
            + "(one per line, blank lines ignored; no white space inside a key). Default: {default} (the API is not mapped: /api/* is 404).",
        ToHost = true, // the API endpoints
    });

    // Configuration only (no flag).
    public static readonly ServeSetting<TimeSpan> DrainTimeout = Add(new ServeSetting<TimeSpan>(nameof(DrainTimeout), SettingKinds.Duration, LifelineOptions.DefaultDrainTimeout)
    {
        ToServer = (o, v) => o.DrainTimeout = v,
        ToHost = true, // the host's shutdown timeout (ServeSettings.ShutdownTimeout) and the stopping line
    });

    public static readonly ServeSetting<TimeSpan> ShutdownRetrySpread = Add(new ServeSetting<TimeSpan>(nameof(ShutdownRetrySpread), SettingKinds.Duration, LifelineOptions.DefaultShutdownRetrySpread)
    {
        ToServer = (o, v) => o.ShutdownRetrySpread = v,
    });

    public static readonly ServeSetting<TimeSpan> CloseHandshakeTimeout = Add(new ServeSetting<TimeSpan>(nameof(CloseHandshakeTimeout), SettingKinds.Duration, LifelineOptions.DefaultCloseHandshakeTimeout)
    {
        ToServer = (o, v) => o.CloseHandshakeTimeout = v,
    });

    public static readonly ServeSetting<TimeSpan> DisconnectedHookTimeout = Add(new ServeSetting<TimeSpan>(nameof(DisconnectedHookTimeout), SettingKinds.Duration, LifelineOptions.DefaultDisconnectedHookTimeout)
    {
        ToServer = (o, v) => o.DisconnectedHookTimeout = v,
    });

    public static readonly ServeSetting<int> SendQueueLimit = Add(new ServeSetting<int>(nameof(SendQueueLimit), SettingKinds.WholeNumber, LifelineOptions.DefaultSendQueueLimit)
    {
        ToServer = (o, v) => o.SendQueueLimit = v,
    });

    public static readonly ServeSetting<int> PublishBacklogLimit = Add(new ServeSetting<int>(nameof(PublishBacklogLimit), SettingKinds.WholeNumber, LifelineOptions.DefaultPublishBacklogLimit)
    {
        ToServer = (o, v) => o.PublishBacklogLimit = v,
    });

    public static readonly ServeSetting<TimeSpan> PublishBacklogTimeout = Add(new ServeSetting<TimeSpan>(nameof(PublishBacklogTimeout), SettingKinds.Duration, LifelineOptions.DefaultPublishBacklogTimeout)
    {
        ToServer = (o, v) => o.PublishBacklogTimeout = v,
    });

    public static readonly ServeSetting<int> MaxFrameSize = Add(new ServeSetting<int>(nameof(MaxFrameSize), SettingKinds.Size, LifelineOptions.DefaultMaxFrameSize)
    {
        ToServer = (o, v) => o.MaxFrameSize = v,
    });

    /// <summary>Every setting, in the order of <c>serve --help</c> (then those read from configuration only).</summary>
    public static IReadOnlyList<ServeSetting> All => Entries;

    private static ServeSetting<T> Add<T>(ServeSetting<T> setting)
    {
        Entries.Add(setting);
        return setting;
    }
}
