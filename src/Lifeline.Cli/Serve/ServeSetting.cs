using System.CommandLine;
using Lifeline.Engine;
using Lifeline.Redis;
using Lifeline.Server;
using Microsoft.Extensions.Configuration;

namespace Lifeline.Cli.Serve;

/// <summary>
/// One setting of <c>lifeline serve</c>, declared once in <see cref="ServeSettingTable"/>: its configuration key, its
/// flag (or none: configuration only), its kind (parser), default and help text, the checks on the resolved value and
/// how it applies. Everything else (the options of <c>serve</c>, reading configuration, resolving, applying) is derived.
/// </summary>
internal abstract class ServeSetting
{
    /// <summary>The placeholder in <see cref="Help"/> replaced by the formatted default.</summary>
    public const string DefaultPlaceholder = "{default}";

    private protected ServeSetting(string key) => Key = key;

    /// <summary>The key in configuration section <c>Lifeline</c>, e.g. <c>HeartbeatInterval</c>.</summary>
    public string Key { get; }

    /// <summary>The full configuration key, e.g. <c>Lifeline:HeartbeatInterval</c>.</summary>
    public string ConfigurationKey => ServeSettings.SectionName + ":" + Key;

    /// <summary>The environment variable, e.g. <c>Lifeline__HeartbeatInterval</c>.</summary>
    public string EnvironmentVariable => ServeSettings.SectionName + "__" + Key;

    /// <summary>The command-line flag, e.g. <c>--heartbeat-interval</c>; null for a setting read from configuration only.</summary>
    public string? Flag { get; init; }

    /// <summary>The flag's value placeholder in help (<c>port</c>); null: the kind's (<c>duration</c>), or none.</summary>
    public string? HelpName { get; init; }

    /// <summary>The help text of the flag; <see cref="DefaultPlaceholder"/> stands for the default.</summary>
    public string? Help { get; init; }

    /// <summary>Where the value goes, for the reader and the table's tests.</summary>
    public abstract SettingTargets Targets { get; }

    /// <summary>The default as help and docs write it (<c>30s</c>, <c>64KiB</c>, <c>off</c>, <c>none</c>).</summary>
    public abstract string DefaultText { get; }

    /// <summary>The flag's description in <c>serve --help</c>.</summary>
    public abstract string? Description { get; }

    /// <summary>The default value, boxed.</summary>
    public abstract object? DefaultValue { get; }

    /// <summary>Creates the System.CommandLine option; only for a setting with a <see cref="Flag"/>.</summary>
    /// <returns>The option.</returns>
    public abstract Option CreateOption();

    /// <summary>Reads the value of the option, given on the command line.</summary>
    /// <param name="result">The parse.</param>
    /// <param name="option">The option <see cref="CreateOption"/> made.</param>
    /// <returns>The value, boxed.</returns>
    public abstract object? ReadOption(ParseResult result, Option option);

    /// <summary>Reads the setting from configuration.</summary>
    /// <param name="section">Section <c>Lifeline</c>.</param>
    /// <param name="errors">Where a problem is added.</param>
    /// <param name="value">The value, boxed, when configuration has a readable one.</param>
    /// <returns>True when configuration has a readable value.</returns>
    public abstract bool TryReadConfiguration(IConfigurationSection section, List<string> errors, out object? value);

    /// <summary>Adds the problem of a resolved value, if any.</summary>
    /// <param name="value">The resolved value, boxed.</param>
    /// <param name="errors">Where a problem is added.</param>
    public abstract void Check(object? value, List<string> errors);

    /// <summary>Copies the value into the server's options, when the setting goes there.</summary>
    /// <param name="value">The resolved value, boxed.</param>
    /// <param name="options">The server's options.</param>
    public abstract void Apply(object? value, LifelineOptions options);

    /// <summary>Copies the value into the in-memory engine's options, when the setting goes there.</summary>
    /// <param name="value">The resolved value, boxed.</param>
    /// <param name="options">The engine's options.</param>
    public abstract void Apply(object? value, MemoryEngineOptions options);

    /// <summary>Copies the value into the Redis engine's options, when the setting goes there.</summary>
    /// <param name="value">The resolved value, boxed.</param>
    /// <param name="options">The engine's options.</param>
    public abstract void Apply(object? value, RedisEngineOptions options);

    /// <inheritdoc />
    public override string ToString() => Flag ?? ConfigurationKey;
}

/// <summary>Where a setting's value goes.</summary>
[Flags]
internal enum SettingTargets
{
    /// <summary>Nowhere (a mistake: the table's tests refuse it).</summary>
    None = 0,

    /// <summary><see cref="LifelineOptions"/>.</summary>
    Server = 1,

    /// <summary><see cref="MemoryEngineOptions"/>.</summary>
    MemoryEngine = 2,

    /// <summary><see cref="RedisEngineOptions"/>.</summary>
    RedisEngine = 4,

    /// <summary>The host itself, read by <see cref="ServeHost"/> (listen address, logging, authenticator, endpoints, Kestrel limits, shutdown timeout).</summary>
    Host = 8,
}

/// <summary>A setting whose value is a <typeparamref name="T"/>.</summary>
/// <typeparam name="T">The value type.</typeparam>
/// <param name="key">The configuration key (<see cref="ServeSetting.Key"/>).</param>
/// <param name="kind">How it is read and written.</param>
/// <param name="defaultValue">The default.</param>
internal sealed class ServeSetting<T>(string key, SettingKind<T> kind, T defaultValue) : ServeSetting(key)
{
    /// <summary>The default.</summary>
    public T Default { get; } = defaultValue;

    /// <summary>How the value is read and written.</summary>
    public SettingKind<T> Kind { get; } = kind;

    /// <summary>The problem with a resolved value (from any source), or null when it is fine.</summary>
    public Func<T, string?>? Validate { get; init; }

    /// <summary>Copies the value into <see cref="LifelineOptions"/>.</summary>
    public Action<LifelineOptions, T>? ToServer { get; init; }

    /// <summary>Copies the value into <see cref="MemoryEngineOptions"/>.</summary>
    public Action<MemoryEngineOptions, T>? ToMemoryEngine { get; init; }

    /// <summary>Copies the value into <see cref="RedisEngineOptions"/>.</summary>
    public Action<RedisEngineOptions, T>? ToRedisEngine { get; init; }

    /// <summary>True when <see cref="ServeHost"/> reads the value itself.</summary>
    public bool ToHost { get; init; }

    /// <inheritdoc />
    public override SettingTargets Targets =>
        (ToServer is null ? SettingTargets.None : SettingTargets.Server)
        | (ToMemoryEngine is null ? SettingTargets.None : SettingTargets.MemoryEngine)
        | (ToRedisEngine is null ? SettingTargets.None : SettingTargets.RedisEngine)
        | (ToHost ? SettingTargets.Host : SettingTargets.None);

    /// <inheritdoc />
    public override string DefaultText => Kind.Format(Default);

    /// <inheritdoc />
    public override object? DefaultValue => Default;

    /// <inheritdoc />
    public override string? Description =>
        Help is null ? null : Help.Replace(DefaultPlaceholder, DefaultText, StringComparison.Ordinal) + Kind.HelpSuffix;

    /// <inheritdoc />
    public override Option CreateOption()
    {
        var option = Kind.CreateOption(Flag ?? throw new InvalidOperationException($"{ConfigurationKey} has no flag"));
        option.Description = Description;
        option.HelpName = HelpName ?? Kind.HelpName;
        return option;
    }

    /// <inheritdoc />
    public override object? ReadOption(ParseResult result, Option option) => Kind.ReadOption(result, option);

    /// <inheritdoc />
    public override bool TryReadConfiguration(IConfigurationSection section, List<string> errors, out object? value)
    {
        value = null;
        if (section[Key] is not { } text)
        {
            return false;
        }

        if (!Kind.FromConfiguration(text, ConfigurationKey, out var read, out var error))
        {
            errors.Add(error!);
            return false;
        }

        value = read;
        return true;
    }

    /// <inheritdoc />
    public override void Check(object? value, List<string> errors)
    {
        if (Validate?.Invoke((T)value!) is { } problem)
        {
            errors.Add(problem);
        }
    }

    /// <inheritdoc />
    public override void Apply(object? value, LifelineOptions options) => ToServer?.Invoke(options, (T)value!);

    /// <inheritdoc />
    public override void Apply(object? value, MemoryEngineOptions options) => ToMemoryEngine?.Invoke(options, (T)value!);

    /// <inheritdoc />
    public override void Apply(object? value, RedisEngineOptions options) => ToRedisEngine?.Invoke(options, (T)value!);
}
