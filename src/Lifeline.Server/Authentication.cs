using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Lifeline.Server;

/// <summary>What an authenticator is given: the <c>hello.token</c> (or a <c>refresh.token</c>) and the upgrade request.</summary>
/// <param name="Token">The token from <c>hello.token</c> or <c>refresh.token</c>, or null.</param>
/// <param name="HttpContext">The WebSocket upgrade request (headers, cookies, the app's authenticated user).</param>
public sealed record AuthenticationContext(string? Token, HttpContext HttpContext);

/// <summary>The authenticator's verdict.</summary>
public readonly record struct AuthenticationResult
{
    /// <summary>
    /// The longest user id that <see cref="JwtTokenAuthenticator"/> (its user claim) and <c>lifeline serve --auth dev</c>
    /// (the token) accept; they also refuse control characters. <see cref="Success"/> does not check it: an authenticator
    /// of your own should keep to it too, since user ids are logged and used as keys.
    /// </summary>
    public const int MaxUserIdLength = 128;

    /// <summary>True when the client may connect.</summary>
    public bool Succeeded { get; private init; }

    /// <summary>The user id when succeeded; null for anonymous connections.</summary>
    public string? UserId { get; private init; }

    /// <summary>Why the client was refused (sent as the close reason; keep it short and free of secrets).</summary>
    public string? FailureReason { get; private init; }

    /// <summary>
    /// True for the refusal <see cref="Expired"/>: the token was valid once but has expired. A hello is then closed with
    /// 4002 <c>token_expired</c> (clients fetch a fresh token and reconnect at once) instead of 4001.
    /// </summary>
    public bool IsExpired { get; private init; }

    /// <summary>
    /// When the token stops being valid (a JWT's <c>exp</c>); null: it does not expire. When set, <c>welcome</c> and a
    /// <c>refresh</c> reply carry <c>tokenExpiresInMs</c>, and the server closes the connection with 4002 once this
    /// moment has passed without a successful refresh. A success whose expiry has already passed counts as expired.
    /// Set it with <c>with</c>: <c>AuthenticationResult.Success(user) with { ExpiresAt = exp }</c>.
    /// </summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>
    /// The token's claims, for authorization: handed to <see cref="IChannelPolicy"/> as <see cref="ChannelRequest.Claims"/>
    /// on every request of the connection (a successful refresh replaces them). Null: none. Never logged.
    /// </summary>
    public IReadOnlyDictionary<string, JsonElement>? Claims { get; init; }

    /// <summary>An anonymous connection (no user).</summary>
    public static AuthenticationResult Anonymous => new() { Succeeded = true };

    /// <summary>An authenticated user.</summary>
    /// <param name="userId">The user id.</param>
    /// <returns>The result.</returns>
    public static AuthenticationResult Success(string userId) => new() { Succeeded = true, UserId = userId };

    /// <summary>A refusal: the connection is closed with 4001 and clients do not retry.</summary>
    /// <param name="reason">Why.</param>
    /// <returns>The result.</returns>
    public static AuthenticationResult Fail(string reason) => new() { FailureReason = reason };

    /// <summary>A refusal because the token has expired: a hello is closed with 4002, which clients answer with a fresh token at once.</summary>
    /// <param name="reason">Why; the default is <see cref="ExpiredReason"/>.</param>
    /// <returns>The result.</returns>
    public static AuthenticationResult Expired(string reason = ExpiredReason) => new() { FailureReason = reason, IsExpired = true };

    /// <summary>The default reason of <see cref="Expired"/>.</summary>
    public const string ExpiredReason = "token_expired";
}

/// <summary>Decides who a connecting client is, from <c>hello.token</c> and the upgrade request.</summary>
public interface ILifelineAuthenticator
{
    /// <summary>Authenticates a client.</summary>
    /// <param name="context">The token and the request.</param>
    /// <param name="cancellationToken">Signalled when the connection goes away or the handshake times out.</param>
    /// <returns>The verdict.</returns>
    ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken);
}

/// <summary>The default authenticator: every client is anonymous, tokens are ignored.</summary>
public sealed class AnonymousAuthenticator : ILifelineAuthenticator
{
    /// <inheritdoc />
    public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AuthenticationResult.Anonymous);
}
