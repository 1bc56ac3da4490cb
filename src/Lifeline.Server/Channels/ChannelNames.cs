namespace Lifeline.Server.Channels;

/// <summary>Channel-name rules: 1 to <see cref="LifelineOptions.MaxChannelNameLength"/> characters from a safe ASCII set.</summary>
internal static class ChannelNames
{
    /// <summary>Letters, digits and <c>_ - : . @ / = + , # ~ !</c>. No spaces, control characters or non-ASCII.</summary>
    public static bool IsAllowedChar(char c) =>
        c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9'
        or '_' or '-' or ':' or '.' or '@' or '/' or '=' or '+' or ',' or '#' or '~' or '!';

    /// <summary>Returns null when valid, else the reason.</summary>
    public static string? Validate(string name, int maxLength)
    {
        if (name.Length == 0)
        {
            return "channel name is empty";
        }

        if (name.Length > maxLength)
        {
            return $"channel name is longer than {maxLength} characters";
        }

        foreach (var c in name)
        {
            if (!IsAllowedChar(c))
            {
                return "channel name may only contain letters, digits and _-:.@/=+,#~!";
            }
        }

        return null;
    }
}
