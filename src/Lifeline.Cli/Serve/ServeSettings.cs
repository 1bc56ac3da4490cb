using System.Globalization;
using System.Net;
using Lifeline.Engine;
using Lifeline.Redis;
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

    /// <summary>
    /// The token is a signed JWT checked with <c>--jwt-key-file</c> (<see cref="JwtAuthentication"/>); its <c>sub</c> is the
    /// user id and its optional <c>channels</c> claim limits the channels (<see cref="ChannelsClaimPolicy"/>).
    /// </summary>
    Jwt,
}

/// <summary>A setting that is on or off, written <c>on</c>/<c>off</c> (<c>--http-transport on|off</c>).</summary>
internal enum OnOff
{
    /// <summary>On.</summary>
    On,

    /// <summary>Off.</summary>
    Off,
}

/// <summary>How <c>lifeline serve</c> takes WebSocket upgrades (<c>--listener lean|standard</c>).</summary>
internal enum ListenerKind
{
    /// <summary>Lifeline's own upgrade in Kestrel connection middleware (<see cref="LifelineListenOptionsExtensions.UseLifeline"/>).</summary>
    Lean,

    /// <summary>ASP.NET Core's upgrade in the HTTP pipeline (<c>MapLifeline</c> alone).</summary>
    Standard,
}

/// <summary>How log lines are written to the console.</summary>
internal enum LogFormat
{
    /// <summary>One line per event, starting with a millisecond UTC timestamp.</summary>
    Text,

    /// <summary>One JSON object per line, with a millisecond UTC timestamp and the event id and name.</summary>
    Json,
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
/// The settings of <c>lifeline serve</c> once resolved, one value per entry of <see cref="ServeSettingTable"/>: a
/// command-line flag wins over configuration (environment variables over the <c>--config</c> file
/// (<see cref="ServeConfigFile"/>) over <c>appsettings.json</c> in the current directory over the one next to the binary,
/// section <see cref="SectionName"/>, e.g. <c>Lifeline__Port=9000</c>), which wins over the default. Durations in configuration
/// may be written <c>5s</c> or <c>00:00:05</c>, sizes <c>64KiB</c> or <c>65536</c>. Settings without a flag (drain
/// timeout and the other <see cref="LifelineOptions"/>) come from configuration only.
/// </summary>
internal sealed class ServeSettings
{
    /// <summary>The configuration section that holds the settings.</summary>
    public const string SectionName = "Lifeline";

    /// <summary>Extra time the host gives shutdown beyond <see cref="LifelineOptions.DrainTimeout"/>.</summary>
    public static readonly TimeSpan ShutdownSlack = TimeSpan.FromSeconds(5);

    private readonly Dictionary<ServeSetting, object?> _values;

    private ServeSettings(Dictionary<ServeSetting, object?> values) => _values = values;

    /// <summary>Every setting at its default.</summary>
    public static ServeSettings Defaults => new(ServeSettingTable.All.ToDictionary(s => s, s => s.DefaultValue));

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

    /// <summary>The URL Kestrel listens on: <c>http://{bind}:{port}</c> (IPv6 addresses in brackets).</summary>
    public string ListenUrl
    {
        get
        {
            var bind = Get(ServeSettingTable.Bind);
            var host = IPAddress.TryParse(bind, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                ? "[" + ip + "]"
                : bind;
            return string.Create(CultureInfo.InvariantCulture, $"http://{host}:{Get(ServeSettingTable.Port)}");
        }
    }

    /// <summary>How long the host may take to stop: at least the drain timeout plus <see cref="ShutdownSlack"/>.</summary>
    public TimeSpan ShutdownTimeout => Get(ServeSettingTable.DrainTimeout) + ShutdownSlack;

    /// <summary>The value of one setting.</summary>
    /// <typeparam name="T">Its type.</typeparam>
    /// <param name="setting">An entry of <see cref="ServeSettingTable"/>.</param>
    /// <returns>The value.</returns>
    public T Get<T>(ServeSetting<T> setting) => (T)_values[setting]!;

    /// <summary>A copy with one setting changed (tests, and derived settings).</summary>
    /// <typeparam name="T">Its type.</typeparam>
    /// <param name="setting">An entry of <see cref="ServeSettingTable"/>.</param>
    /// <param name="value">The new value.</param>
    /// <returns>The copy.</returns>
    public ServeSettings With<T>(ServeSetting<T> setting, T value) => new(new Dictionary<ServeSetting, object?>(_values) { [setting] = value });

    /// <summary>Copies the server settings into <paramref name="options"/>, and allows <see cref="LocalOrigins"/>.</summary>
    /// <param name="options">The options bound by <c>AddLifeline</c>.</param>
    public void Apply(LifelineOptions options)
    {
        foreach (var (setting, value) in _values)
        {
            setting.Apply(value, options);
        }

        foreach (var origin in LocalOrigins)
        {
            options.AllowedOrigins.Add(origin);
        }
    }

    /// <summary>Copies the engine settings into <paramref name="options"/>: history bounds, and idempotency keys remembered for the resume window.</summary>
    /// <param name="options">The in-memory engine's options.</param>
    public void Apply(MemoryEngineOptions options)
    {
        foreach (var (setting, value) in _values)
        {
            setting.Apply(value, options);
        }
    }

    /// <summary>Copies the Redis engine settings into <paramref name="options"/> (the connection string of <c>--redis</c>).</summary>
    /// <param name="options">The Redis engine's options (the rest bound from section <c>Lifeline:RedisEngine</c>).</param>
    public void Apply(RedisEngineOptions options)
    {
        foreach (var (setting, value) in _values)
        {
            setting.Apply(value, options);
        }
    }

    /// <summary>Resolves every setting: flag, else configuration, else default; then checks the values.</summary>
    /// <param name="configuration">The application's configuration (its <see cref="SectionName"/> section is read).</param>
    /// <param name="flags">What the command line said.</param>
    /// <returns>The settings.</returns>
    /// <exception cref="ServeSettingsException">A configuration value cannot be read, or a value cannot be used; the message lists every problem.</exception>
    public static ServeSettings Resolve(IConfiguration configuration, ServeFlags flags)
    {
        var section = configuration.GetSection(SectionName);
        var errors = new List<string>();
        var values = new Dictionary<ServeSetting, object?>();
        foreach (var setting in ServeSettingTable.All)
        {
            values[setting] = flags.TryGet(setting, out var given) ? given
                : setting.TryReadConfiguration(section, errors, out var configured) ? configured
                : setting.DefaultValue;
        }

        foreach (var setting in ServeSettingTable.All)
        {
            setting.Check(values[setting], errors);
        }

        var jwt = values[ServeSettingTable.Auth] is AuthMode.Jwt;
        if (jwt && values[ServeSettingTable.JwtKeyFile] is null)
        {
            errors.Add("--auth jwt needs --jwt-key-file (a shared secret, or a PEM public key: RSA or EC)");
        }

        if (!jwt && (values[ServeSettingTable.JwtKeyFile] ?? values[ServeSettingTable.JwtIssuer] ?? values[ServeSettingTable.JwtAudience]) is not null)
        {
            errors.Add("--jwt-key-file, --jwt-issuer and --jwt-audience apply to --auth jwt only");
        }

        // The server API lives under /api, never under the WebSocket path (nor the other way round).
        if (values[ServeSettingTable.ApiKeyFile] is not null && values[ServeSettingTable.Path] is string path
            && (path == Api.ServerApi.Prefix || path.StartsWith(Api.ServerApi.Prefix + "/", StringComparison.Ordinal)))
        {
            errors.Add($"--path {path} is under {Api.ServerApi.Prefix}, the server API's prefix (--api-key-file): choose another WebSocket path");
        }

        if (errors.Count > 0)
        {
            throw new ServeSettingsException(string.Join(Environment.NewLine, errors));
        }

        return new ServeSettings(values);
    }
}
