using System.Text;
using System.Text.Json;
using Lifeline.Server;

namespace Lifeline.Cli.Serve;

/// <summary>
/// <c>lifeline serve --auth jwt</c>: the <see cref="JwtTokenAuthenticator"/> built from <c>--jwt-key-file</c>,
/// <c>--jwt-issuer</c> and <c>--jwt-audience</c>. The key file is a PEM public key (RSA or EC: RS256/ES256 tokens) when it
/// holds a <c>-----BEGIN</c> line, otherwise a shared secret (HS256/384/512): the file's bytes with trailing white space
/// (the newline an editor or <c>echo</c> adds) removed, at least <see cref="JwtTokenOptions.MinSigningKeyLength"/> bytes.
/// The user id is the token's <c>sub</c>.
/// </summary>
internal static class JwtAuthentication
{
    /// <summary>Reads the key file and makes the authenticator.</summary>
    /// <param name="settings">The resolved settings (<see cref="ServeSettingTable.JwtKeyFile"/> set).</param>
    /// <returns>The authenticator.</returns>
    /// <exception cref="ServeSettingsException">The file cannot be read or holds no usable key.</exception>
    public static JwtTokenAuthenticator Create(ServeSettings settings)
    {
        var path = settings.Get(ServeSettingTable.JwtKeyFile)!;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ServeSettingsException($"--jwt-key-file: cannot read '{path}': {ex.Message}", ex);
        }

        try
        {
            var pem = Encoding.UTF8.GetString(bytes);
            var isPem = pem.Contains("-----BEGIN", StringComparison.Ordinal);
            return new JwtTokenAuthenticator(new JwtTokenOptions
            {
                PublicKey = isPem ? JwtTokenOptions.PublicKeyFromPem(pem) : null,
                SigningKey = isPem ? null : TrimEnd(bytes),
                Issuer = settings.Get(ServeSettingTable.JwtIssuer),
                Audience = settings.Get(ServeSettingTable.JwtAudience),
            });
        }
        catch (ArgumentException ex)
        {
            var why = ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", string.Empty, StringComparison.Ordinal);
            throw new ServeSettingsException($"--jwt-key-file '{path}': {why}", ex);
        }
    }

    private static byte[] TrimEnd(byte[] bytes)
    {
        var length = bytes.Length;
        while (length > 0 && bytes[length - 1] is (byte)'\n' or (byte)'\r' or (byte)' ' or (byte)'\t')
        {
            length--;
        }

        return bytes[..length];
    }
}

/// <summary>
/// The channel permissions of <c>lifeline serve --auth jwt</c>, from the token's optional <c>channels</c> claim
/// (<see cref="ChannelRequest.Claims"/>, which a successful refresh replaces): an array of channel patterns where
/// <c>*</c> matches any run of characters (<c>room:*</c>, <c>user:alice</c>, <c>*</c>). When the claim is present, subscribe,
/// publish, emit and presence are allowed only on a channel that one pattern matches (<c>forbidden</c> otherwise; an emit is
/// covered exactly as a publish); when it is absent, on every channel. A <c>channels</c> claim that is not an array of strings allows nothing.
/// </summary>
internal sealed class ChannelsClaimPolicy : IChannelPolicy
{
    /// <summary>The claim read.</summary>
    public const string ClaimName = "channels";

    /// <inheritdoc />
    public ValueTask<ChannelDecision> DecideAsync(ChannelRequest request, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Allows(request.Claims, request.Channel) ? ChannelDecision.Allow : ChannelDecision.Forbid($"the token does not allow channel '{request.Channel}'"));

    /// <summary>Whether <paramref name="claims"/> allow <paramref name="channel"/>.</summary>
    public static bool Allows(IReadOnlyDictionary<string, JsonElement>? claims, string channel)
    {
        if (claims is null || !claims.TryGetValue(ClaimName, out var patterns))
        {
            return true;
        }

        if (patterns.ValueKind != JsonValueKind.Array)
        {
            return false;
        }

        foreach (var pattern in patterns.EnumerateArray())
        {
            if (pattern.ValueKind == JsonValueKind.String && Matches(pattern.GetString()!, channel))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A glob match where <c>*</c> stands for any run of characters (none included); every other character is literal.</summary>
    public static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        // Iterative glob with one backtrack point: linear enough for channel names (at most a few hundred characters).
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (p < pattern.Length && pattern[p] == text[t])
            {
                p++;
                t++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
