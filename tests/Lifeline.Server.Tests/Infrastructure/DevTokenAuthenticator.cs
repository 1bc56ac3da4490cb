namespace Lifeline.Server.Tests;

/// <summary>
/// The token is the user id (no token: anonymous). A stand-in for the authenticator of <c>lifeline serve --auth dev</c>,
/// which left the server library for the CLI; the shared test kit's authenticator replaces it.
/// </summary>
internal sealed class DevTokenAuthenticator : ILifelineAuthenticator
{
    public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(context.Token switch
        {
            null or "" => AuthenticationResult.Anonymous,
            { Length: > AuthenticationResult.MaxUserIdLength } => AuthenticationResult.Fail("invalid_token"),
            var token when token.Any(char.IsControl) => AuthenticationResult.Fail("invalid_token"),
            var token => AuthenticationResult.Success(token),
        });
}
