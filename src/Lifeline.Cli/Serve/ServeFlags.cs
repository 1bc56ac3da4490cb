using System.Globalization;
using System.Text;

namespace Lifeline.Cli.Serve;

/// <summary>What the command line said: the settings whose flag was given, with their values (configuration or the default applies to the others).</summary>
internal sealed class ServeFlags : IEquatable<ServeFlags>
{
    private readonly Dictionary<ServeSetting, object?> _given;

    private ServeFlags(Dictionary<ServeSetting, object?> given) => _given = given;

    /// <summary>No flag given.</summary>
    public static ServeFlags None { get; } = new([]);

    /// <summary>How many flags were given.</summary>
    public int Count => _given.Count;

    /// <summary>A copy that also says <paramref name="setting"/>'s flag was given with <paramref name="value"/>.</summary>
    /// <typeparam name="T">The setting's type.</typeparam>
    /// <param name="setting">An entry of <see cref="ServeSettingTable"/>.</param>
    /// <param name="value">The value.</param>
    /// <returns>The copy.</returns>
    public ServeFlags With<T>(ServeSetting<T> setting, T value) => WithBoxed(setting, value);

    /// <summary>The value given for <paramref name="setting"/>, if its flag was given.</summary>
    /// <param name="setting">An entry of <see cref="ServeSettingTable"/>.</param>
    /// <param name="value">The value, boxed.</param>
    /// <returns>True when the flag was given.</returns>
    public bool TryGet(ServeSetting setting, out object? value) => _given.TryGetValue(setting, out value);

    /// <inheritdoc />
    public bool Equals(ServeFlags? other) =>
        other is not null && other._given.Count == _given.Count
        && _given.All(g => other._given.TryGetValue(g.Key, out var v) && Equals(v, g.Value));

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as ServeFlags);

    /// <inheritdoc />
    public override int GetHashCode() => _given.Count;

    /// <inheritdoc />
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var (setting, value) in _given.OrderBy(g => g.Key.Key, StringComparer.Ordinal))
        {
            text.Append(CultureInfo.InvariantCulture, $"{setting}={value} ");
        }

        return text.ToString().TrimEnd();
    }

    internal ServeFlags WithBoxed(ServeSetting setting, object? value) => new(new Dictionary<ServeSetting, object?>(_given) { [setting] = value });
}
