using Lifeline.Server;

namespace Lifeline.Cli.Serve;

/// <summary>
/// FOR DEVELOPMENT AND TESTS ONLY: takes <c>hello.token</c> as the user id, unchecked (no token: anonymous); a token
/// longer than <see cref="AuthenticationResult.MaxUserIdLength"/> or with a control character is refused with
/// <c>invalid_token</c>. Anyone can claim to be anyone. Selected by <c>lifeline serve --auth dev</c>
/// (<see cref="AuthMode.Dev"/>); not part of the server library.
/// </summary>
internal sealed class DevTokenAuthenticator : ILifelineAuthenticator
{
    /// <inheritdoc />
    public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken)
    {
        var token = context.Token;
        if (string.IsNullOrEmpty(token))
        {
            return ValueTask.FromResult(AuthenticationResult.Anonymous);
        }

        if (token.Length > AuthenticationResult.MaxUserIdLength || token.Any(char.IsControl))
        {
            return ValueTask.FromResult(AuthenticationResult.Fail("invalid_token"));
        }

        return ValueTask.FromResult(AuthenticationResult.Success(token));
    }
}
