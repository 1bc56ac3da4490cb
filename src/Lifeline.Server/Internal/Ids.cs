using System.Buffers.Text;
using System.Security.Cryptography;

namespace Lifeline.Server.Internal;

/// <summary>Random identifiers from the cryptographic generator, base64url without padding.</summary>
internal static class Ids
{
    /// <summary>Session tokens carry 144 random bits (PROTOCOL.md asks for at least 128).</summary>
    public const int SessionTokenBytes = 18;

    private const int ConnectionIdBytes = 9;

    public static string NewConnectionId() => Random(ConnectionIdBytes);

    public static string NewSessionToken() => Random(SessionTokenBytes);

    private static string Random(int bytes)
    {
        Span<byte> buffer = stackalloc byte[bytes];
        RandomNumberGenerator.Fill(buffer);
        return Base64Url.EncodeToString(buffer);
    }
}
