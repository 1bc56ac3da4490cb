using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Lifeline.Cli.Tests.Infrastructure;

/// <summary>
/// A token issuer for tests of <c>lifeline serve --auth jwt</c>: an EC P-256 key made here, its public half written to a
/// PEM file for <c>--jwt-key-file</c>, and ES256 tokens signed with the private half. Disposing deletes the file.
/// </summary>
public sealed class TestJwtIssuer : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly string _dir = System.IO.Directory.CreateTempSubdirectory("lifeline-jwt-").FullName;

    /// <summary>The directory of the key file, for other files a test needs.</summary>
    public string Directory => _dir;

    /// <summary>Writes the public key (PEM) and returns its path.</summary>
    public async Task<string> WriteKeyFileAsync()
    {
        var keyFile = Path.Combine(_dir, "issuer.pub.pem");
        await File.WriteAllTextAsync(keyFile, _key.ExportSubjectPublicKeyInfoPem());
        return keyFile;
    }

    /// <summary>A token for <paramref name="sub"/> expiring <paramref name="life"/> from now.</summary>
    /// <param name="sub">The user id.</param>
    /// <param name="life">How long it is valid (negative: already expired).</param>
    /// <param name="channels">The <c>channels</c> claim, or null for none.</param>
    /// <param name="issuer">The <c>iss</c>, or null.</param>
    /// <param name="audience">The <c>aud</c>, or null.</param>
    /// <param name="atLeast">Round <c>exp</c> (whole seconds) up, so the token lives at least <paramref name="life"/> (3 s: 3 to 4 s).</param>
    public string Token(string sub, TimeSpan life, string[]? channels = null, string? issuer = null, string? audience = null, bool atLeast = false)
    {
        var claims = new Dictionary<string, object> { ["sub"] = sub };
        if (channels is not null)
        {
            claims["channels"] = channels;
        }

        var now = DateTime.UtcNow;
        var expires = now + life;
        if (atLeast)
        {
            expires = expires.AddTicks(TimeSpan.TicksPerSecond - (expires.Ticks % TimeSpan.TicksPerSecond));
        }

        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Claims = claims,
            Issuer = issuer,
            Audience = audience,
            IssuedAt = now.AddSeconds(-1),
            NotBefore = now.AddSeconds(-1),
            Expires = expires,
            SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(_key), SecurityAlgorithms.EcdsaSha256),
        });
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _key.Dispose();
        System.IO.Directory.Delete(_dir, recursive: true);
    }
}
