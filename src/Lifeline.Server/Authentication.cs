using Microsoft.AspNetCore.Http;

namespace Lifeline.Server;

/// <summary>What an authenticator is given: the <c>hello.token</c> and the upgrade request.</summary>
/// <param name="Token">The token from <c>hello.token</c>, or null.</param>
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

    /// <summary>Why the client was refused (sent as the 4001 close reason; keep it short and free of secrets).</summary>
    public string? FailureReason { get; private init; }

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
