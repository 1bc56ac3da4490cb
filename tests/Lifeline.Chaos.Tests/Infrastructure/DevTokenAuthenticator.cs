using Lifeline.Server;

namespace Lifeline.Chaos.Tests.Infrastructure;

/// <summary>
/// The token is the user id (no token: anonymous). A stand-in for the authenticator of <c>lifeline serve --auth dev</c>,
/// which left the server library for the CLI; the shared test kit's authenticator replaces it.
/// </summary>
internal sealed class DevTokenAuthenticator : ILifelineAuthenticator
{
    public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(string.IsNullOrEmpty(context.Token) ? AuthenticationResult.Anonymous : AuthenticationResult.Success(context.Token));
}
