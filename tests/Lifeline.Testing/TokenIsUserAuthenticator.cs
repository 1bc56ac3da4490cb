using Lifeline.Server;

namespace Lifeline.Testing;

/// <summary>
/// The tests' authenticator: the token is the user id. No token is anonymous; the token <c>bad</c> is refused with
/// <c>bad_token</c> (close 4001), so tests can script a refusal; a token longer than <see cref="MaxUserIdLength"/> or with
/// a control character is refused with <c>invalid_token</c>. Tests use it instead of the CLI's <c>DevTokenAuthenticator</c>,
/// which is not the server library's to offer.
/// </summary>
public sealed class TokenIsUserAuthenticator : ILifelineAuthenticator
{
    /// <summary>The token that is always refused.</summary>
    public const string RefusedToken = "bad";

    /// <summary>The longest token accepted as a user id.</summary>
    public const int MaxUserIdLength = 128;

    /// <inheritdoc />
    public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(context.Token switch
        {
            null or "" => AuthenticationResult.Anonymous,
            RefusedToken => AuthenticationResult.Fail("bad_token"),
            var token when token.Length > MaxUserIdLength || token.Any(char.IsControl) => AuthenticationResult.Fail("invalid_token"),
            var token => AuthenticationResult.Success(token),
        });
}
