namespace Lifeline.Server.Connections;

/// <summary>
/// The one way a connection asks the application's <see cref="ILifelineAuthenticator"/> about a token (the hello's,
/// or a refresh's): bounded by the connection's life, and an authenticator that throws is logged
/// (<c>AuthenticatorFailed</c>) and reported, never thrown on. What follows a failure is the caller's: the hello closes
/// with 1011, a refresh is refused.
/// </summary>
internal static class AuthenticatorCall
{
    /// <summary>Authenticates <paramref name="token"/> for <paramref name="connection"/>.</summary>
    /// <returns>The verdict; or a null verdict and null failure when the connection went away meanwhile; or the authenticator's exception.</returns>
    public static async Task<(AuthenticationResult? Result, Exception? Failure)> RunAsync(Connection connection, LifelineRuntime runtime, string? token)
    {
        try
        {
            return (await runtime.Authenticator.AuthenticateAsync(new AuthenticationContext(token, connection.Http), connection.Aborted), null);
        }
        catch (OperationCanceledException) when (connection.Aborted.IsCancellationRequested)
        {
            return (null, null);
        }
        catch (Exception ex)
        {
            ConnectionLog.AuthenticatorFailed(runtime.Logger, ex, connection.Id);
            return (null, ex);
        }
    }
}
