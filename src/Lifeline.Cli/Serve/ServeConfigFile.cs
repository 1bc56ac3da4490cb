using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Lifeline.Redis;
using Microsoft.Extensions.Configuration;

namespace Lifeline.Cli.Serve;

/// <summary>
/// The file of <c>lifeline serve --config FILE</c>: one JSON object whose keys are those of configuration section
/// <c>Lifeline</c> (<see cref="ServeSettingTable"/>'s keys, matched without regard to case, plus the object
/// <c>RedisEngine</c> with <see cref="RedisEngineOptions"/>' properties), values as strings, numbers or booleans (a
/// <c>null</c> value leaves the key unset). Read and checked whole at start: a file that is missing or not JSON, an
/// unknown key, a value of the wrong JSON type or one the setting cannot use is refused, every problem named with the
/// file and the key. The accepted values become one configuration source (<see cref="ServeHost"/> places it above the
/// <c>appsettings.json</c> files and below the environment variables; flags win over everything).
/// </summary>
internal static class ServeConfigFile
{
    /// <summary>The nested object of Redis engine settings (configuration section <c>Lifeline:RedisEngine</c>).</summary>
    public const string RedisEngineKey = "RedisEngine";

    private static readonly JsonDocumentOptions JsonOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    private static readonly string[] RedisEngineKeys = typeof(RedisEngineOptions)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite)
        .Select(p => p.Name)
        .ToArray();

    /// <summary>Reads and checks <paramref name="path"/>.</summary>
    /// <param name="path">The file named by <c>--config</c> (relative to the current directory).</param>
    /// <returns>The configuration entries it sets, with their full keys (<c>Lifeline:Port</c>).</returns>
    /// <exception cref="ServeSettingsException">The file is missing, unreadable, not a JSON object, or has unknown keys or bad values; the message lists every problem.</exception>
    public static IReadOnlyDictionary<string, string?> Read(string path)
    {
        var full = Path.GetFullPath(path);
        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ServeSettingsException($"--config {path}: file not found ({full})");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ServeSettingsException($"--config {path}: cannot read the file: {ex.Message}");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text, JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new ServeSettingsException($"--config {path}: not valid JSON: {ex.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ServeSettingsException($"--config {path}: must hold one JSON object whose keys are the settings of section {ServeSettings.SectionName} (was {document.RootElement.ValueKind})");
            }

            var errors = new List<string>();
            var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                ReadProperty(property, values, errors);
            }

            CheckValues(values, errors);
            if (errors.Count > 0)
            {
                throw new ServeSettingsException(string.Join(Environment.NewLine, errors.Select(e => $"--config {path}: {e}")));
            }

            return values;
        }
    }

    private static void ReadProperty(JsonProperty property, Dictionary<string, string?> values, List<string> errors)
    {
        if (string.Equals(property.Name, RedisEngineKey, StringComparison.OrdinalIgnoreCase))
        {
            ReadRedisEngine(property.Value, values, errors);
            return;
        }

        var setting = ServeSettingTable.All.FirstOrDefault(s => string.Equals(s.Key, property.Name, StringComparison.OrdinalIgnoreCase));
        if (setting is null)
        {
            var hint = string.Equals(property.Name, ServeSettings.SectionName, StringComparison.OrdinalIgnoreCase)
                ? $" (write the keys of section {ServeSettings.SectionName} at the top level of the file)"
                : string.Empty;
            errors.Add($"unknown key '{property.Name}'{hint}; known keys: {string.Join(", ", ServeSettingTable.All.Select(s => s.Key))}, {RedisEngineKey}");
            return;
        }

        if (Scalar(property.Value, property.Name, errors, out var text) && text is not null)
        {
            values[setting.ConfigurationKey] = text;
        }
    }

    private static void ReadRedisEngine(JsonElement element, Dictionary<string, string?> values, List<string> errors)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"key '{RedisEngineKey}' must be an object (was {element.ValueKind})");
            return;
        }

        foreach (var property in element.EnumerateObject())
        {
            var name = RedisEngineKeys.FirstOrDefault(k => string.Equals(k, property.Name, StringComparison.OrdinalIgnoreCase));
            var key = $"{RedisEngineKey}.{property.Name}";
            if (name is null)
            {
                errors.Add($"unknown key '{key}'; known keys of {RedisEngineKey}: {string.Join(", ", RedisEngineKeys)}");
            }
            else if (Scalar(property.Value, key, errors, out var text) && text is not null)
            {
                values[$"{ServeSettings.SectionName}:{RedisEngineKey}:{name}"] = text;
            }
        }
    }

    private static bool Scalar(JsonElement value, string key, List<string> errors, out string? text)
    {
        text = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.True => bool.TrueString,
            JsonValueKind.False => bool.FalseString,
            _ => null,
        };
        if (text is null && value.ValueKind != JsonValueKind.Null)
        {
            errors.Add($"key '{key}' must be a string, a number or a boolean (was {value.ValueKind.ToString().ToLowerInvariant()})");
            return false;
        }

        return true;
    }

    /// <summary>Each value the file sets, read and checked as its setting reads and checks configuration.</summary>
    private static void CheckValues(Dictionary<string, string?> values, List<string> errors)
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection(ServeSettings.SectionName);
        foreach (var setting in ServeSettingTable.All)
        {
            var problems = new List<string>();
            if (setting.TryReadConfiguration(section, problems, out var value))
            {
                setting.Check(value, problems);
            }

            errors.AddRange(problems.Select(p => string.Create(CultureInfo.InvariantCulture, $"key '{setting.Key}': {p}")));
        }

        // The Redis engine's own settings are bound as ServeHost binds them: a value the binder cannot convert fails here.
        try
        {
            section.GetSection(RedisEngineKey).Bind(new RedisEngineOptions());
        }
        catch (InvalidOperationException ex)
        {
            errors.Add($"key '{RedisEngineKey}': {ex.Message}");
        }
    }
}
