using System.Buffers.Text;
using System.Security.Cryptography;

namespace Lifeline.Server.Connections;

/// <summary>Random identifiers from the cryptographic generator, base64url without padding.</summary>
internal static class Ids
{
    /// <summary>Session tokens carry 144 random bits (PROTOCOL.md asks for at least 128).</summary>
    public const int SessionTokenBytes = 18;

    private const int ConnectionIdBytes = 9;

    public static string NewConnectionId() => Random(ConnectionIdBytes);

    public static string NewSessionToken() => Random(SessionTokenBytes);

    /// <summary>
    /// The public id of a session: a hash of its token, safe to log, store in the engine as a presence member key
    /// and hand to the application; the token itself never leaves the connection and the engine's session record.
    /// </summary>
    public static string SessionId(string token)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token), hash);
        return Base64Url.EncodeToString(hash[..12]);
    }

    private static string Random(int bytes)
    {
        Span<byte> buffer = stackalloc byte[bytes];
        RandomNumberGenerator.Fill(buffer);
        return Base64Url.EncodeToString(buffer);
    }
}
