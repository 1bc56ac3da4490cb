using System.Globalization;
using System.Net;
using Lifeline.Cli.Parsing;
using Lifeline.Engine;
using Lifeline.Protocol;
using Lifeline.Server;
using Microsoft.Extensions.Configuration;

namespace Lifeline.Cli.Serve;

/// <summary>How <c>lifeline serve</c> authenticates <c>hello.token</c>.</summary>
internal enum AuthMode
{
    /// <summary>Every client is anonymous; tokens are ignored (<see cref="AnonymousAuthenticator"/>).</summary>
    Anonymous,

    /// <summary>The token is taken as the user id, unchecked (<see cref="DevTokenAuthenticator"/>). Development and tests only.</summary>
    Dev,
}

/// <summary>How log lines are written to the console.</summary>
internal enum LogFormat
{
    /// <summary>One line per event, starting with a millisecond UTC timestamp.</summary>
    Text,

    /// <summary>One JSON object per line, with a millisecond UTC timestamp and the event id and name.</summary>
    Json,
}

/// <summary>What the command line said; null where a flag was not given (configuration or the default then applies).</summary>
internal sealed record ServeFlags
{
    public string? Bind { get; init; }

    public int? Port { get; init; }

    public string? Path { get; init; }

    public TimeSpan? HeartbeatInterval { get; init; }

    public TimeSpan? HeartbeatTimeout { get; init; }

    public TimeSpan? HandshakeTimeout { get; init; }

    public int? MaxMessageSize { get; init; }

    public AuthMode? Auth { get; init; }

    public LogFormat? LogFormat { get; init; }

    public bool? TestEndpoints { get; init; }

    public int? HistorySize { get; init; }

    public TimeSpan? HistoryAge { get; init; }

    public TimeSpan? ResumeWindow { get; init; }

    public TimeSpan? PresenceGrace { get; init; }

    public string? Redis { get; init; }
}

/// <summary>A setting of <c>lifeline serve</c> that cannot be used, with every problem found.</summary>
internal sealed class ServeSettingsException : Exception
{
    public ServeSettingsException()
    {
    }

    public ServeSettingsException(string message)
        : base(message)
    {
    }

    public ServeSettingsException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The settings of <c>lifeline serve</c> once resolved: a command-line flag wins over configuration (environment
/// variables over <c>appsettings.json</c>, section <see cref="SectionName"/>, e.g. <c>Lifeline__Port=9000</c>), which wins
/// over the default. Durations in configuration may be written <c>5s</c> or <c>00:00:05</c>, sizes <c>64KiB</c> or
/// <c>65536</c>. Settings without a flag (drain timeout and the other <see cref="LifelineOptions"/>) come from configuration only.
/// </summary>
internal sealed record ServeSettings
{
    /// <summary>The configuration section that holds the settings.</summary>
    public const string SectionName = "Lifeline";

    /// <summary>Default of <see cref="Bind"/>: loopback only.</summary>
    public const string DefaultBind = "127.0.0.1";

    /// <summary>Default of <see cref="Port"/>.</summary>
    public const int DefaultPort = 8080;

    /// <summary>Default of <see cref="Path"/>.</summary>
    public const string DefaultPath = ProtocolConstants.DefaultPath;

    /// <summary>Default of <see cref="Auth"/>.</summary>
    public const AuthMode DefaultAuth = AuthMode.Anonymous;

    /// <summary>Default of <see cref="LogFormat"/>.</summary>
    public const LogFormat DefaultLogFormat = Serve.LogFormat.Text;

    /// <summary>Extra time the host gives shutdown beyond <see cref="LifelineOptions.DrainTimeout"/>.</summary>
    public static readonly TimeSpan ShutdownSlack = TimeSpan.FromSeconds(5);

    public string Bind { get; init; } = DefaultBind;

    public int Port { get; init; } = DefaultPort;

    public string Path { get; init; } = DefaultPath;

    public TimeSpan HeartbeatInterval { get; init; } = LifelineOptions.DefaultHeartbeatInterval;

    public TimeSpan HeartbeatTimeout { get; init; } = LifelineOptions.DefaultHeartbeatTimeout;

    public TimeSpan HandshakeTimeout { get; init; } = LifelineOptions.DefaultHandshakeTimeout;

    public int MaxMessageSize { get; init; } = LifelineOptions.DefaultMaxMessageSize;

    public AuthMode Auth { get; init; } = DefaultAuth;

    public LogFormat LogFormat { get; init; } = DefaultLogFormat;

    public bool TestEndpoints { get; init; }

    /// <summary>The Redis configuration string (<c>localhost:6379</c>) to run on the Redis engine; null: the embedded in-memory engine.</summary>
    public string? Redis { get; init; }

    public TimeSpan DrainTimeout { get; init; } = LifelineOptions.DefaultDrainTimeout;

    public TimeSpan ShutdownRetrySpread { get; init; } = LifelineOptions.DefaultShutdownRetrySpread;

    public TimeSpan CloseHandshakeTimeout { get; init; } = LifelineOptions.DefaultCloseHandshakeTimeout;

    public TimeSpan DisconnectedHookTimeout { get; init; } = LifelineOptions.DefaultDisconnectedHookTimeout;

    public TimeSpan ResumeWindow { get; init; } = LifelineOptions.DefaultResumeWindow;

    public int SendQueueLimit { get; init; } = LifelineOptions.DefaultSendQueueLimit;

    public int MaxFrameSize { get; init; } = LifelineOptions.DefaultMaxFrameSize;

    public int HistorySize { get; init; } = MemoryEngineOptions.DefaultHistorySize;

    public TimeSpan HistoryAge { get; init; } = TimeSpan.FromSeconds(MemoryEngineOptions.DefaultHistoryAgeSeconds);

    public TimeSpan PresenceGrace { get; init; } = LifelineOptions.DefaultPresenceGracePeriod;

    /// <summary>The URL Kestrel listens on: <c>http://{bind}:{port}</c> (IPv6 addresses in brackets).</summary>
    public string ListenUrl
    {
        get
        {
            var host = IPAddress.TryParse(Bind, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                ? "[" + ip + "]"
                : Bind;
            return string.Create(CultureInfo.InvariantCulture, $"http://{host}:{Port}");
        }
    }

    /// <summary>How long the host may take to stop: at least the drain timeout plus <see cref="ShutdownSlack"/>.</summary>
    public TimeSpan ShutdownTimeout => DrainTimeout + ShutdownSlack;

    /// <summary>Copies the server settings into <paramref name="options"/>.</summary>
    /// <param name="options">The options bound by <c>AddLifeline</c>.</param>
    public void Apply(LifelineOptions options)
    {
        options.HeartbeatInterval = HeartbeatInterval;
        options.HeartbeatTimeout = HeartbeatTimeout;
        options.HandshakeTimeout = HandshakeTimeout;
        options.MaxMessageSize = MaxMessageSize;
        options.DrainTimeout = DrainTimeout;
        options.ShutdownRetrySpread = ShutdownRetrySpread;
        options.CloseHandshakeTimeout = CloseHandshakeTimeout;
        options.DisconnectedHookTimeout = DisconnectedHookTimeout;
        options.ResumeWindow = ResumeWindow;
        options.SendQueueLimit = SendQueueLimit;
        options.MaxFrameSize = MaxFrameSize;
        options.PresenceGracePeriod = PresenceGrace;
        foreach (var origin in LocalOrigins)
        {
            options.AllowedOrigins.Add(origin);
        }
    }

    /// <summary>
    /// The browser origins <c>lifeline serve</c> allows besides its own: pages served from localhost, 127.0.0.1 or [::1]
    /// on any port, over http or https (a development tool; a page from any other site is refused with 403).
    /// </summary>
    public static IReadOnlyList<string> LocalOrigins { get; } =
    [
        "http://localhost:*", "https://localhost:*",
        "http://127.0.0.1:*", "https://127.0.0.1:*",
        "http://[::1]:*", "https://[::1]:*",
    ];

    /// <summary>Copies the engine settings into <paramref name="options"/>: history bounds, and idempotency keys remembered for the resume window.</summary>
    /// <param name="options">The in-memory engine's options.</param>
    public void Apply(MemoryEngineOptions options)
    {
        options.HistorySize = HistorySize;
        options.HistoryAge = HistoryAge;
        options.IdempotencyWindow = ResumeWindow;
    }

    /// <summary>Resolves every setting: flag, else configuration, else default.</summary>
    /// <param name="configuration">The application's configuration (its <see cref="SectionName"/> section is read).</param>
    /// <param name="flags">What the command line said.</param>
    /// <returns>The settings.</returns>
    /// <exception cref="ServeSettingsException">A configuration value cannot be read; the message lists every problem.</exception>
    public static ServeSettings Resolve(IConfiguration configuration, ServeFlags flags)
    {
        var section = configuration.GetSection(SectionName);
        var errors = new List<string>();
        var defaults = new ServeSettings();
        var settings = new ServeSettings
        {
            Bind = flags.Bind ?? NonEmpty(section, nameof(Bind), errors) ?? DefaultBind,
            Port = flags.Port ?? Int(section, nameof(Port), errors) ?? DefaultPort,
            Path = flags.Path ?? NonEmpty(section, nameof(Path), errors) ?? DefaultPath,
            HeartbeatInterval = flags.HeartbeatInterval ?? Duration(section, nameof(HeartbeatInterval), errors) ?? defaults.HeartbeatInterval,
            HeartbeatTimeout = flags.HeartbeatTimeout ?? Duration(section, nameof(HeartbeatTimeout), errors) ?? defaults.HeartbeatTimeout,
            HandshakeTimeout = flags.HandshakeTimeout ?? Duration(section, nameof(HandshakeTimeout), errors) ?? defaults.HandshakeTimeout,
            MaxMessageSize = flags.MaxMessageSize ?? Size(section, nameof(MaxMessageSize), errors) ?? defaults.MaxMessageSize,
            Auth = flags.Auth ?? Choice(section, nameof(Auth), errors, ParseAuth, "anonymous or dev") ?? DefaultAuth,
            LogFormat = flags.LogFormat ?? Choice(section, nameof(LogFormat), errors, ParseLogFormat, "text or json") ?? DefaultLogFormat,
            TestEndpoints = flags.TestEndpoints ?? Bool(section, nameof(TestEndpoints), errors) ?? false,
            Redis = flags.Redis ?? NonEmpty(section, nameof(Redis), errors),
            DrainTimeout = Duration(section, nameof(DrainTimeout), errors) ?? defaults.DrainTimeout,
            ShutdownRetrySpread = Duration(section, nameof(ShutdownRetrySpread), errors) ?? defaults.ShutdownRetrySpread,
            CloseHandshakeTimeout = Duration(section, nameof(CloseHandshakeTimeout), errors) ?? defaults.CloseHandshakeTimeout,
            DisconnectedHookTimeout = Duration(section, nameof(DisconnectedHookTimeout), errors) ?? defaults.DisconnectedHookTimeout,
            ResumeWindow = flags.ResumeWindow ?? Duration(section, nameof(ResumeWindow), errors) ?? defaults.ResumeWindow,
            HistorySize = flags.HistorySize ?? Int(section, nameof(HistorySize), errors) ?? defaults.HistorySize,
            HistoryAge = flags.HistoryAge ?? Duration(section, nameof(HistoryAge), errors) ?? defaults.HistoryAge,
            PresenceGrace = flags.PresenceGrace ?? Duration(section, nameof(PresenceGrace), errors) ?? defaults.PresenceGrace,
            SendQueueLimit = Int(section, nameof(SendQueueLimit), errors) ?? defaults.SendQueueLimit,
            MaxFrameSize = Size(section, nameof(MaxFrameSize), errors) ?? defaults.MaxFrameSize,
        };

        if (settings.Port is < 0 or > 65535)
        {
            errors.Add($"port must be between 0 and 65535 (was {settings.Port.ToString(CultureInfo.InvariantCulture)})");
        }

        if (!settings.Path.StartsWith('/'))
        {
            errors.Add($"path must start with '/' (was '{settings.Path}')");
        }

        if (settings.HistorySize < 1)
        {
            errors.Add($"history size must be at least 1 (was {settings.HistorySize.ToString(CultureInfo.InvariantCulture)})");
        }

        if (settings.HistoryAge <= TimeSpan.Zero)
        {
            errors.Add("history age must be positive");
        }

        if (settings.PresenceGrace < TimeSpan.Zero)
        {
            errors.Add("presence grace must not be negative");
        }

        if (errors.Count > 0)
        {
            throw new ServeSettingsException(string.Join(Environment.NewLine, errors));
        }

        return settings;
    }

    /// <summary>Reads <c>anonymous</c> or <c>dev</c> (any case).</summary>
    /// <param name="text">The text.</param>
    /// <returns>The mode, or null when the text is neither.</returns>
    public static AuthMode? ParseAuth(string text) => text.Trim().ToUpperInvariant() switch
    {
        "ANONYMOUS" => AuthMode.Anonymous,
        "DEV" => AuthMode.Dev,
        _ => null,
    };

    /// <summary>Reads <c>text</c> or <c>json</c> (any case).</summary>
    /// <param name="text">The text.</param>
    /// <returns>The format, or null when the text is neither.</returns>
    public static LogFormat? ParseLogFormat(string text) => text.Trim().ToUpperInvariant() switch
    {
        "TEXT" => Serve.LogFormat.Text,
        "JSON" => Serve.LogFormat.Json,
        _ => null,
    };

    private static string Key(string name) => SectionName + ":" + name;

    private static string? NonEmpty(IConfigurationSection section, string name, List<string> errors)
    {
        var value = section[name];
        if (value is null)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add($"configuration {Key(name)} is empty");
            return null;
        }

        return value.Trim();
    }

    private static int? Int(IConfigurationSection section, string name, List<string> errors)
    {
        var value = section[name];
        if (value is null)
        {
            return null;
        }

        if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var result))
        {
            return result;
        }

        errors.Add($"configuration {Key(name)}='{value}' is not a whole number");
        return null;
    }

    private static bool? Bool(IConfigurationSection section, string name, List<string> errors)
    {
        var value = section[name];
        if (value is null)
        {
            return null;
        }

        if (bool.TryParse(value.Trim(), out var result))
        {
            return result;
        }

        errors.Add($"configuration {Key(name)}='{value}' is not true or false");
        return null;
    }

    private static TimeSpan? Duration(IConfigurationSection section, string name, List<string> errors)
    {
        var value = section[name];
        if (value is null)
        {
            return null;
        }

        if (DurationParser.TryParse(value, out var result, out var error))
        {
            return result;
        }

        errors.Add($"configuration {Key(name)}: {error}");
        return null;
    }

    private static int? Size(IConfigurationSection section, string name, List<string> errors)
    {
        var value = section[name];
        if (value is null)
        {
            return null;
        }

        if (SizeParser.TryParse(value, out var result, out var error))
        {
            return result;
        }

        errors.Add($"configuration {Key(name)}: {error}");
        return null;
    }

    private static T? Choice<T>(IConfigurationSection section, string name, List<string> errors, Func<string, T?> parse, string expected)
        where T : struct
    {
        var value = section[name];
        if (value is null)
        {
            return null;
        }

        var result = parse(value);
        if (result is null)
        {
            errors.Add($"configuration {Key(name)}='{value}' must be {expected}");
        }

        return result;
    }
}
