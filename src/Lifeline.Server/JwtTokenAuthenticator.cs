using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Lifeline.Server;

/// <summary>Settings of <see cref="JwtTokenAuthenticator"/>.</summary>
public sealed class JwtTokenOptions
{
    /// <summary>The HMAC key shared with the token issuer; at least 32 bytes (256 bits) for HS256.</summary>
    public required byte[] SigningKey { get; init; }

    /// <summary>The required <c>iss</c>; null accepts any issuer. The default is null.</summary>
    public string? Issuer { get; init; }

    /// <summary>The required <c>aud</c> (a string or one of an array); null accepts any audience. The default is null.</summary>
    public string? Audience { get; init; }

    /// <summary>Tolerance for clock differences when checking <c>exp</c> and <c>nbf</c>. The default is 30 seconds.</summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The claim that names the user. The default is <c>sub</c>.</summary>
    public string UserIdClaim { get; init; } = "sub";

    /// <summary>When true, a hello without a token connects anonymously; otherwise it is refused. The default is false.</summary>
    public bool AllowAnonymous { get; init; }

    /// <summary>The clock; the default is <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// Validates <c>hello.token</c> as a JSON Web Token signed with HMAC SHA-256 (<c>alg: HS256</c>, compact form): the
/// signature (constant-time), <c>alg</c> (anything else, <c>none</c> included, is refused), <c>exp</c> (required),
/// <c>nbf</c>, <c>iss</c> and <c>aud</c> when configured, with <see cref="JwtTokenOptions.ClockSkew"/>. The user is the
/// <see cref="JwtTokenOptions.UserIdClaim"/> claim. Refusals close with 4001 (<c>invalid_token</c> or
/// <c>token_expired</c>) and clients do not retry.
/// </summary>
public sealed class JwtTokenAuthenticator : ILifelineAuthenticator
{
    /// <summary>The longest token examined; longer ones are refused unparsed.</summary>
    public const int MaxTokenLength = 8192;

    private const string Invalid = "invalid_token";
    private const string Expired = "token_expired";
    private readonly JwtTokenOptions _options;

    /// <summary>Creates the authenticator.</summary>
    /// <param name="options">The key and the claims to check.</param>
    public JwtTokenAuthenticator(JwtTokenOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.SigningKey is not { Length: >= 32 })
        {
            throw new ArgumentException("The HS256 signing key must be at least 32 bytes.", nameof(options));
        }

        _options = options;
    }

    /// <inheritdoc />
    public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (string.IsNullOrEmpty(context.Token))
        {
            return ValueTask.FromResult(_options.AllowAnonymous ? AuthenticationResult.Anonymous : AuthenticationResult.Fail(Invalid));
        }

        return ValueTask.FromResult(Validate(context.Token));
    }

    /// <summary>Validates a compact JWS; exposed for applications that check tokens elsewhere too.</summary>
    /// <param name="token">The token.</param>
    /// <returns>Success with the user id, or a refusal.</returns>
    public AuthenticationResult Validate(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Length > MaxTokenLength)
        {
            return AuthenticationResult.Fail(Invalid);
        }

        var parts = token.Split('.');
        if (parts.Length != 3
            || !TryDecode(parts[0], out var headerBytes)
            || !TryDecode(parts[1], out var payloadBytes)
            || !TryDecode(parts[2], out var signature))
        {
            return AuthenticationResult.Fail(Invalid);
        }

        try
        {
            using var header = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { MaxDepth = 8 });
            if (header.RootElement.ValueKind != JsonValueKind.Object
                || !header.RootElement.TryGetProperty("alg", out var alg) || alg.ValueKind != JsonValueKind.String
                || alg.GetString() != "HS256"
                || header.RootElement.TryGetProperty("crit", out _))
            {
                return AuthenticationResult.Fail(Invalid);
            }

            var signed = Encoding.ASCII.GetBytes(string.Concat(parts[0], ".", parts[1]));
            var expected = HMACSHA256.HashData(_options.SigningKey, signed);
            if (!CryptographicOperations.FixedTimeEquals(expected, signature))
            {
                return AuthenticationResult.Fail(Invalid);
            }

            using var payload = JsonDocument.Parse(payloadBytes, new JsonDocumentOptions { MaxDepth = 16 });
            var claims = payload.RootElement;
            if (claims.ValueKind != JsonValueKind.Object)
            {
                return AuthenticationResult.Fail(Invalid);
            }

            var now = _options.Time.GetUtcNow().ToUnixTimeSeconds();
            var skew = (long)_options.ClockSkew.TotalSeconds;
            if (!TryGetTime(claims, "exp", required: true, out var exp) || !TryGetTime(claims, "nbf", required: false, out var nbf))
            {
                return AuthenticationResult.Fail(Invalid);
            }

            if (now >= exp + skew)
            {
                return AuthenticationResult.Expired(Expired);
            }

            if (nbf is not null && now + skew < nbf)
            {
                return AuthenticationResult.Fail(Invalid);
            }

            if (_options.Issuer is { } issuer
                && !(claims.TryGetProperty("iss", out var iss) && iss.ValueKind == JsonValueKind.String && iss.GetString() == issuer))
            {
                return AuthenticationResult.Fail(Invalid);
            }

            if (_options.Audience is { } audience && !HasAudience(claims, audience))
            {
                return AuthenticationResult.Fail(Invalid);
            }

            if (!claims.TryGetProperty(_options.UserIdClaim, out var sub) || sub.ValueKind != JsonValueKind.String
                || sub.GetString() is not { Length: > 0 and <= AuthenticationResult.MaxUserIdLength } user
                || user.Any(char.IsControl))
            {
                return AuthenticationResult.Fail(Invalid);
            }

            return AuthenticationResult.Success(user) with { ExpiresAt = DateTimeOffset.FromUnixTimeSeconds(exp!.Value) };
        }
        catch (JsonException)
        {
            return AuthenticationResult.Fail(Invalid);
        }
    }

    private static bool HasAudience(JsonElement claims, string audience)
    {
        if (!claims.TryGetProperty("aud", out var aud))
        {
            return false;
        }

        if (aud.ValueKind == JsonValueKind.String)
        {
            return aud.GetString() == audience;
        }

        return aud.ValueKind == JsonValueKind.Array
            && aud.EnumerateArray().Any(a => a.ValueKind == JsonValueKind.String && a.GetString() == audience);
    }

    private static bool TryGetTime(JsonElement claims, string name, bool required, out long? value)
    {
        value = null;
        if (!claims.TryGetProperty(name, out var element))
        {
            return !required;
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out var seconds) || double.IsNaN(seconds)
            || seconds < 0 || seconds > 253402300799)
        {
            return false;
        }

        value = (long)seconds;
        return true;
    }

    private static bool TryDecode(string part, out byte[] bytes)
    {
        bytes = [];
        if (part.Length == 0 || part.Length % 4 == 1)
        {
            return false;
        }

        foreach (var c in part)
        {
            if (c is not (>= 'A' and <= 'Z' or >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_'))
            {
                return false;
            }
        }

        var padded = part.Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - (padded.Length % 4)) % 4);
        try
        {
            bytes = Convert.FromBase64String(padded);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
