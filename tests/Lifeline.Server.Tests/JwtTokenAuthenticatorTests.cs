using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Lifeline.Server.Tests;

/// <summary>
/// <see cref="JwtTokenAuthenticator"/> on real tokens made here with <see cref="JsonWebTokenHandler.CreateToken(SecurityTokenDescriptor)"/>
/// and keys generated here: each algorithm family, the lifetime claims, and the hostile tokens (alg none, algorithm
/// confusion, another key, missing claims).
/// </summary>
public sealed class JwtTokenAuthenticatorTests : IDisposable
{
    private static readonly byte[] Secret = RandomNumberGenerator.GetBytes(64);
    private readonly RSA _rsa = RSA.Create(2048);
    private readonly ECDsa _ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public void Dispose()
    {
        _rsa.Dispose();
        _ec.Dispose();
    }

    private static DateTime Now => DateTime.UtcNow;

    private static string Create(SigningCredentials? credentials, Dictionary<string, object>? claims = null, DateTime? expires = null, DateTime? notBefore = null, string? issuer = null, string? audience = null, bool defaultTimes = true)
    {
        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = defaultTimes };
        var descriptor = new SecurityTokenDescriptor
        {
            Claims = claims ?? new Dictionary<string, object> { ["sub"] = "alice" },
            Expires = expires ?? (defaultTimes ? Now.AddMinutes(10) : null),
            NotBefore = notBefore ?? (defaultTimes ? (expires ?? Now.AddMinutes(10)).AddMinutes(-20) : null),
            IssuedAt = defaultTimes ? (notBefore ?? (expires ?? Now.AddMinutes(10)).AddMinutes(-20)) : null,
            Issuer = issuer,
            Audience = audience,
            SigningCredentials = credentials,
        };
        return handler.CreateToken(descriptor);
    }

    private static SigningCredentials Hmac(string algorithm, byte[]? key = null) => new(new SymmetricSecurityKey(key ?? Secret), algorithm);

    private SigningCredentials Rsa(string algorithm = SecurityAlgorithms.RsaSha256) => new(new RsaSecurityKey(_rsa), algorithm);

    private SigningCredentials Ec() => new(new ECDsaSecurityKey(_ec), SecurityAlgorithms.EcdsaSha256);

    private static JwtTokenAuthenticator HmacAuthenticator(string? issuer = null, string? audience = null) =>
        new(new JwtTokenOptions { SigningKey = Secret, Issuer = issuer, Audience = audience });

    private JwtTokenAuthenticator RsaAuthenticator() => new(new JwtTokenOptions { PublicKey = JwtTokenOptions.PublicKeyFromPem(_rsa.ExportSubjectPublicKeyInfoPem()) });

    private JwtTokenAuthenticator EcAuthenticator() => new(new JwtTokenOptions { PublicKey = JwtTokenOptions.PublicKeyFromPem(_ec.ExportSubjectPublicKeyInfoPem()) });

    private static string B64(byte[] bytes) => Base64UrlEncoder.Encode(bytes);

    [Theory]
    [InlineData(SecurityAlgorithms.HmacSha256)]
    [InlineData(SecurityAlgorithms.HmacSha384)]
    [InlineData(SecurityAlgorithms.HmacSha512)]
    public async Task Hmac_tokens_are_accepted_with_their_user_expiry_and_claims(string algorithm)
    {
        var expires = Now.AddMinutes(5);
        var token = Create(Hmac(algorithm), new Dictionary<string, object> { ["sub"] = "alice", ["channels"] = new[] { "room:*", "user:alice" } }, expires);
        var result = await HmacAuthenticator().ValidateAsync(token);

        Assert.True(result.Succeeded, result.FailureReason);
        Assert.Equal("alice", result.UserId);
        Assert.Equal(new DateTimeOffset(expires).ToUnixTimeSeconds(), result.ExpiresAt!.Value.ToUnixTimeSeconds());
        Assert.Equal(JsonValueKind.Array, result.Claims!["channels"].ValueKind);
        Assert.Equal(["room:*", "user:alice"], result.Claims["channels"].EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Rs256_and_es256_tokens_are_accepted_with_a_pem_public_key()
    {
        Assert.Equal("alice", (await RsaAuthenticator().ValidateAsync(Create(Rsa()))).UserId);
        Assert.Equal("alice", (await EcAuthenticator().ValidateAsync(Create(Ec()))).UserId);
    }

    public static TheoryData<string> HostileNames() =>
    [
        "alg_none_unsigned", "alg_none_with_signature", "hs256_signed_with_the_rsa_public_key_pem", "hs256_signed_with_the_rsa_public_key_der",
        "hs256_signed_with_the_ec_public_key_der", "rs256_by_another_key", "es256_by_another_key", "rs256_at_the_ec_key", "es256_at_the_rsa_key",
        "unsigned_descriptor", "payload_swapped", "garbage", "too_long", "exp_is_a_string", "five_parts",
    ];

    [Theory]
    [MemberData(nameof(HostileNames))]
    public async Task Hostile_tokens_are_invalid(string name)
    {
        var none = B64(Encoding.UTF8.GetBytes("{\"alg\":\"none\",\"typ\":\"JWT\"}"));
        var payload = B64(Encoding.UTF8.GetBytes($"{{\"sub\":\"alice\",\"exp\":{DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeSeconds()}}}"));
        using var otherRsa = RSA.Create(2048);
        using var otherEc = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rsaSigned = Create(Rsa()).Split('.');
        var (authenticator, token) = name switch
        {
            "alg_none_unsigned" => (HmacAuthenticator(), $"{none}.{payload}."),
            "alg_none_with_signature" => (RsaAuthenticator(), $"{none}.{rsaSigned[1]}.{rsaSigned[2]}"),
            "hs256_signed_with_the_rsa_public_key_pem" => (RsaAuthenticator(), Create(Hmac(SecurityAlgorithms.HmacSha256, Encoding.ASCII.GetBytes(_rsa.ExportSubjectPublicKeyInfoPem())))),
            "hs256_signed_with_the_rsa_public_key_der" => (RsaAuthenticator(), Create(Hmac(SecurityAlgorithms.HmacSha256, _rsa.ExportSubjectPublicKeyInfo()))),
            "hs256_signed_with_the_ec_public_key_der" => (EcAuthenticator(), Create(Hmac(SecurityAlgorithms.HmacSha256, _ec.ExportSubjectPublicKeyInfo()))),
            "rs256_by_another_key" => (RsaAuthenticator(), Create(new SigningCredentials(new RsaSecurityKey(otherRsa), SecurityAlgorithms.RsaSha256))),
            "es256_by_another_key" => (EcAuthenticator(), Create(new SigningCredentials(new ECDsaSecurityKey(otherEc), SecurityAlgorithms.EcdsaSha256))),
            "rs256_at_the_ec_key" => (EcAuthenticator(), Create(Rsa())),
            "es256_at_the_rsa_key" => (RsaAuthenticator(), Create(Ec())),
            "unsigned_descriptor" => (HmacAuthenticator(), Create(null)),
            "payload_swapped" => (HmacAuthenticator(), SwapPayload(Create(Hmac(SecurityAlgorithms.HmacSha256)), payload.Replace("YWxpY2U", "Ym9i", StringComparison.Ordinal))),
            "garbage" => (HmacAuthenticator(), "not.a.jwt"),
            "too_long" => (HmacAuthenticator(), Create(Hmac(SecurityAlgorithms.HmacSha256), new Dictionary<string, object> { ["sub"] = "alice", ["pad"] = new string('x', JwtTokenAuthenticator.MaxTokenLength) })),
            "exp_is_a_string" => (HmacAuthenticator(), Create(Hmac(SecurityAlgorithms.HmacSha256), new Dictionary<string, object> { ["sub"] = "alice", ["exp"] = "soon" }, defaultTimes: false)),
            _ => (HmacAuthenticator(), Create(Hmac(SecurityAlgorithms.HmacSha256)) + ".a.b"),
        };

        var result = await authenticator.ValidateAsync(token);
        Assert.False(result.Succeeded);
        Assert.False(result.IsExpired);
        Assert.Equal("invalid_token", result.FailureReason);
    }

    private static string SwapPayload(string token, string payload)
    {
        var parts = token.Split('.');
        return $"{parts[0]}.{payload}.{parts[2]}";
    }

    [Fact]
    public async Task Exp_is_required_and_an_expired_token_is_the_expired_refusal()
    {
        var hs = Hmac(SecurityAlgorithms.HmacSha256);
        var noExp = await HmacAuthenticator().ValidateAsync(Create(hs, defaultTimes: false));
        Assert.Equal("invalid_token", noExp.FailureReason);

        var expired = await HmacAuthenticator().ValidateAsync(Create(hs, expires: Now.AddSeconds(-31)));
        Assert.False(expired.Succeeded);
        Assert.True(expired.IsExpired);
        Assert.Equal("token_expired", expired.FailureReason);

        // within the 30 s skew the token still authenticates; its ExpiresAt (in the past) lets the server refuse it as expired
        var withinSkew = await HmacAuthenticator().ValidateAsync(Create(hs, expires: Now.AddSeconds(-20)));
        Assert.True(withinSkew.Succeeded);
        Assert.True(withinSkew.ExpiresAt < DateTimeOffset.UtcNow);
        Assert.Equal(TimeSpan.FromSeconds(30), JwtTokenOptions.DefaultClockSkew);
    }

    [Fact]
    public async Task Nbf_iss_and_aud_are_checked()
    {
        var hs = Hmac(SecurityAlgorithms.HmacSha256);
        Assert.Equal("invalid_token", (await HmacAuthenticator().ValidateAsync(Create(hs, notBefore: Now.AddSeconds(40), expires: Now.AddMinutes(5)))).FailureReason);
        Assert.True((await HmacAuthenticator().ValidateAsync(Create(hs, notBefore: Now.AddSeconds(20), expires: Now.AddMinutes(5)))).Succeeded);

        var checking = HmacAuthenticator(issuer: "issuer", audience: "lifeline");
        Assert.True((await checking.ValidateAsync(Create(hs, issuer: "issuer", audience: "lifeline"))).Succeeded);
        Assert.Equal("invalid_token", (await checking.ValidateAsync(Create(hs, issuer: "someone", audience: "lifeline"))).FailureReason);
        Assert.Equal("invalid_token", (await checking.ValidateAsync(Create(hs, issuer: "issuer", audience: "other"))).FailureReason);
        Assert.Equal("invalid_token", (await checking.ValidateAsync(Create(hs))).FailureReason);
    }

    [Fact]
    public async Task The_user_claim_must_be_a_short_string_without_control_characters()
    {
        var hs = Hmac(SecurityAlgorithms.HmacSha256);
        foreach (var sub in new object[] { "", new string('u', AuthenticationResult.MaxUserIdLength + 1), "ali\nce", 42 })
        {
            var result = await HmacAuthenticator().ValidateAsync(Create(hs, new Dictionary<string, object> { ["sub"] = sub }));
            Assert.Equal("invalid_token", result.FailureReason);
        }

        Assert.Equal("invalid_token", (await HmacAuthenticator().ValidateAsync(Create(hs, new Dictionary<string, object> { ["name"] = "alice" }))).FailureReason);
    }

    [Fact]
    public void Keys_are_checked_when_the_authenticator_is_made()
    {
        using var small = RSA.Create(1024);
        Assert.Throws<ArgumentException>(() => new JwtTokenAuthenticator(new JwtTokenOptions()));
        Assert.Throws<ArgumentException>(() => new JwtTokenAuthenticator(new JwtTokenOptions { SigningKey = Secret, PublicKey = new RsaSecurityKey(_rsa) }));
        Assert.Throws<ArgumentException>(() => new JwtTokenAuthenticator(new JwtTokenOptions { SigningKey = new byte[31] }));
        Assert.Throws<ArgumentException>(() => new JwtTokenAuthenticator(new JwtTokenOptions { PublicKey = new RsaSecurityKey(small) }));
        Assert.Throws<ArgumentException>(() => JwtTokenOptions.PublicKeyFromPem("not a pem"));
    }

    [Fact]
    public async Task No_token_is_refused_unless_anonymous_is_allowed()
    {
        var context = new AuthenticationContext(null, new Microsoft.AspNetCore.Http.DefaultHttpContext());
        Assert.Equal("invalid_token", (await HmacAuthenticator().AuthenticateAsync(context, default)).FailureReason);
        var anonymous = new JwtTokenAuthenticator(new JwtTokenOptions { SigningKey = Secret, AllowAnonymous = true });
        var result = await anonymous.AuthenticateAsync(context, default);
        Assert.True(result.Succeeded);
        Assert.Null(result.UserId);
    }
}
