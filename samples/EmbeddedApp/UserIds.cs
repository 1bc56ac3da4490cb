namespace Lifeline.Samples.EmbeddedApp;

/// <summary>The user ids the demo sign-in accepts: they become part of channel names (<c>user:{id}</c>).</summary>
public static class UserIds
{
    /// <summary>The longest id.</summary>
    public const int MaxLength = 64;

    /// <summary>True for 1 to <see cref="MaxLength"/> ASCII letters, digits, '-' or '_'.</summary>
    /// <param name="id">The id.</param>
    /// <returns>Whether it is valid.</returns>
    public static bool IsValid(string? id) =>
        id is { Length: > 0 and <= MaxLength } && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}
