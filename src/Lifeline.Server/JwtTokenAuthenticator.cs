using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Lifeline.Server;

/// <summary>
/// Settings of <see cref="JwtTokenAuthenticator"/>. Give exactly one key: <see cref="SigningKey"/> (a secret shared with
/// the issuer: HS256, HS384, HS512) or <see cref="PublicKey"/> (the issuer's RSA or EC public key: RS256/RS384/RS512 or
/// ES256/ES384/ES512 by curve; <see cref="PublicKeyFromPem"/> reads one from PEM). The key decides the algorithms
/// accepted: an HMAC token is never checked against a public key's bytes, nor an RSA token against an EC key.
/// </summary>
public sealed class JwtTokenOptions
{
    /// <summary>The default of <see cref="ClockSkew"/>: 30 seconds.</summary>
    public static readonly TimeSpan DefaultClockSkew = TimeSpan.FromSeconds(30);

    /// <summary>The default of <see cref="UserIdClaim"/>: <c>sub</c>.</summary>
    public const string DefaultUserIdClaim = "sub";

    /// <summary>The shortest <see cref="SigningKey"/> accepted: 32 bytes (256 bits, what HS256 needs).</summary>
    public const int MinSigningKeyLength = 32;

    /// <summary>The smallest RSA <see cref="PublicKey"/> accepted: 2048 bits.</summary>
    public const int MinRsaKeySizeInBits = 2048;

    /// <summary>The secret shared with the token issuer (HS256, HS384, HS512), at least <see cref="MinSigningKeyLength"/> bytes; null when <see cref="PublicKey"/> is given.</summary>
    public byte[]? SigningKey { get; init; }

    /// <summary>
    /// The issuer's public key: an <see cref="RsaSecurityKey"/> (RS256, RS384, RS512; at least
    /// <see cref="MinRsaKeySizeInBits"/> bits) or an <see cref="ECDsaSecurityKey"/> (P-256: ES256, P-384: ES384,
    /// P-521: ES512); null when <see cref="SigningKey"/> is given. See <see cref="PublicKeyFromPem"/>.
    /// </summary>
    public SecurityKey? PublicKey { get; init; }

    /// <summary>The required <c>iss</c>; null accepts any issuer. The default is null.</summary>
    public string? Issuer { get; init; }

    /// <summary>The required <c>aud</c> (a string or one of an array); null accepts any audience. The default is null.</summary>
    public string? Audience { get; init; }

    /// <summary>
    /// Tolerance for clock differences between the issuer and this server when checking <c>exp</c> and <c>nbf</c>. The
    /// default is <see cref="DefaultClockSkew"/>. (The server still closes a live connection at <c>exp</c> itself:
    /// <see cref="AuthenticationResult.ExpiresAt"/>.)
    /// </summary>
    public TimeSpan ClockSkew { get; init; } = DefaultClockSkew;

    /// <summary>The claim that names the user. The default is <see cref="DefaultUserIdClaim"/>.</summary>
    public string UserIdClaim { get; init; } = DefaultUserIdClaim;

    /// <summary>When true, a hello without a token connects anonymously; otherwise it is refused. The default is false.</summary>
    public bool AllowAnonymous { get; init; }

    /// <summary>The clock; the default is <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Reads an RSA or EC public key from PEM (<c>BEGIN PUBLIC KEY</c>, <c>BEGIN RSA PUBLIC KEY</c>).</summary>
    /// <param name="pem">The PEM text.</param>
    /// <returns>An <see cref="RsaSecurityKey"/> or an <see cref="ECDsaSecurityKey"/>.</returns>
    /// <exception cref="ArgumentException">The text holds no RSA or EC key.</exception>
    public static SecurityKey PublicKeyFromPem(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(pem);
            return new RsaSecurityKey(rsa);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            rsa.Dispose();
        }

        var ec = ECDsa.Create();
        try
        {
            ec.ImportFromPem(pem);
            return new ECDsaSecurityKey(ec);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            ec.Dispose();
            throw new ArgumentException("The PEM text holds no RSA or EC public key.", nameof(pem), ex);
        }
    }
}

/// <summary>
/// Validates <c>hello.token</c> and <c>refresh.token</c> as a signed JSON Web Token (compact JWS) with
/// Microsoft.IdentityModel.JsonWebTokens: the signature with the configured key, the algorithm (only those of the
/// key's family; <c>alg: none</c> and unsigned tokens are refused), <c>exp</c> (required), <c>nbf</c>, and <c>iss</c> and
/// <c>aud</c> when configured, with <see cref="JwtTokenOptions.ClockSkew"/>. The user is the
/// <see cref="JwtTokenOptions.UserIdClaim"/> claim; the result carries <c>exp</c> as
/// <see cref="AuthenticationResult.ExpiresAt"/> and every claim as <see cref="AuthenticationResult.Claims"/>. An expired
/// token is the <see cref="AuthenticationResult.Expired"/> refusal (close 4002 at hello: clients fetch a new token and
/// reconnect at once); any other problem is <c>invalid_token</c> (close 4001: clients do not retry).
/// </summary>
public sealed class JwtTokenAuthenticator : ILifelineAuthenticator
{
    /// <summary>The longest token examined; longer ones are refused unparsed.</summary>
    public const int MaxTokenLength = 8192;

    private const string Invalid = "invalid_token";
    private static readonly string[] HmacAlgorithms = [SecurityAlgorithms.HmacSha256, SecurityAlgorithms.HmacSha384, SecurityAlgorithms.HmacSha512];
    private static readonly string[] RsaAlgorithms = [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512];

    private readonly JwtTokenOptions _options;
    private readonly JsonWebTokenHandler _handler = new() { MaximumTokenSizeInBytes = MaxTokenLength };
    private readonly TokenValidationParameters _parameters;

    /// <summary>Creates the authenticator.</summary>
    /// <param name="options">The key and the claims to check.</param>
    /// <exception cref="ArgumentException">No key, two keys, a short secret, a small RSA key or an unsupported key type.</exception>
    public JwtTokenAuthenticator(JwtTokenOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (key, algorithms) = (options.SigningKey, options.PublicKey) switch
        {
            (null, null) or (not null, not null) => throw new ArgumentException("Give exactly one of SigningKey (a shared secret) and PublicKey.", nameof(options)),
            ({ Length: < JwtTokenOptions.MinSigningKeyLength }, _) => throw new ArgumentException($"The shared secret must be at least {JwtTokenOptions.MinSigningKeyLength} bytes.", nameof(options)),
            ({ } secret, _) => ((SecurityKey)new SymmetricSecurityKey(secret), HmacAlgorithms),
            (_, RsaSecurityKey rsa) when KeySize(rsa) < JwtTokenOptions.MinRsaKeySizeInBits => throw new ArgumentException($"The RSA key must be at least {JwtTokenOptions.MinRsaKeySizeInBits} bits.", nameof(options)),
            (_, RsaSecurityKey rsa) => (rsa, RsaAlgorithms),
            (_, ECDsaSecurityKey ec) => (ec, [EcAlgorithm(ec)]),
            (_, var other) => throw new ArgumentException($"Unsupported public key type {other!.GetType().Name}: use an RSA or EC key.", nameof(options)),
        };

        _options = options;
        _parameters = new TokenValidationParameters
        {
            IssuerSigningKey = key,
            TryAllIssuerSigningKeys = true,
            ValidAlgorithms = algorithms,
            RequireSignedTokens = true,
            // exp and nbf are checked below on options.Time (the library reads the system clock), after the signature
            ValidateLifetime = false,
            ValidateIssuer = options.Issuer is not null,
            ValidIssuer = options.Issuer,
            ValidateAudience = options.Audience is not null,
            ValidAudience = options.Audience,
            ValidateIssuerSigningKey = false, // the one configured key; nothing to check about it per token
        };
    }

    /// <inheritdoc />
    public async ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (string.IsNullOrEmpty(context.Token))
        {
            return _options.AllowAnonymous ? AuthenticationResult.Anonymous : AuthenticationResult.Fail(Invalid);
        }

        return await ValidateAsync(context.Token);
    }

    /// <summary>Validates a compact JWS; exposed for applications that check tokens elsewhere too.</summary>
    /// <param name="token">The token.</param>
    /// <returns>Success with the user id, expiry and claims, <see cref="AuthenticationResult.Expired"/>, or a refusal.</returns>
    public async Task<AuthenticationResult> ValidateAsync(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Length > MaxTokenLength)
        {
            return AuthenticationResult.Fail(Invalid);
        }

        try
        {
            return Check(await _handler.ValidateTokenAsync(token, _parameters));
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or JsonException or SecurityTokenException or InvalidOperationException or OverflowException)
        {
            return AuthenticationResult.Fail(Invalid); // a claim of the wrong JSON type (exp as a string, ...)
        }
    }

    private AuthenticationResult Check(TokenValidationResult result)
    {

        if (!result.IsValid
            || result.SecurityToken is not JsonWebToken jwt
            || ReadClaims(jwt) is not { } claims
            || !claims.TryGetValue(_options.UserIdClaim, out var userClaim)
            || userClaim.ValueKind != JsonValueKind.String // a JSON string: the library would turn 42 into "42"
            || userClaim.GetString() is not { Length: > 0 and <= AuthenticationResult.MaxUserIdLength } user
            || user.Any(char.IsControl)
            || !jwt.TryGetClaim(JwtRegisteredClaimNames.Exp, out _))
        {
            return AuthenticationResult.Fail(Invalid);
        }

        // The signature, algorithm, issuer and audience are good: now the lifetime, on our clock, with the skew.
        var now = _options.Time.GetUtcNow();
        var expiresAt = new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero);
        if (jwt.TryGetClaim(JwtRegisteredClaimNames.Nbf, out _) && now + _options.ClockSkew < new DateTimeOffset(jwt.ValidFrom, TimeSpan.Zero))
        {
            return AuthenticationResult.Fail(Invalid);
        }

        if (now >= expiresAt + _options.ClockSkew)
        {
            return AuthenticationResult.Expired();
        }

        return AuthenticationResult.Success(user) with
        {
            ExpiresAt = expiresAt,
            Claims = claims,
        };
    }

    /// <summary>Every payload claim as JSON (for <see cref="IChannelPolicy"/>); the payload was validated, so it parses.</summary>
    private static Dictionary<string, JsonElement>? ReadClaims(JsonWebToken jwt)
    {
        try
        {
            using var payload = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(jwt.EncodedPayload), new JsonDocumentOptions { MaxDepth = 16 });
            var claims = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var claim in payload.RootElement.EnumerateObject())
            {
                claims[claim.Name] = claim.Value.Clone();
            }

            return claims;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static int KeySize(RsaSecurityKey key) => key.Rsa?.KeySize ?? (key.Parameters.Modulus?.Length ?? 0) * 8;

    private static string EcAlgorithm(ECDsaSecurityKey key) => key.ECDsa.KeySize switch
    {
        256 => SecurityAlgorithms.EcdsaSha256,
        384 => SecurityAlgorithms.EcdsaSha384,
        521 => SecurityAlgorithms.EcdsaSha512,
        var size => throw new ArgumentException($"Unsupported EC key size {size}: use P-256 (ES256), P-384 or P-521.", nameof(key)),
    };
}
