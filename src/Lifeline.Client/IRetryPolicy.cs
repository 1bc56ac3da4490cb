namespace Lifeline.Client;

/// <summary>
/// Decides whether and when the client tries to connect again after a connection was lost or an attempt failed, and
/// how failed token refreshes on a live connection are spaced (<see cref="RetryContext.Reason"/>
/// <c>token_refresh_failed</c>; null there means stop refreshing and let the server close with 4002 at the expiry).
/// </summary>
public interface IRetryPolicy
{
    /// <summary>Returns the delay before the next attempt, or null to stop reconnecting (the client becomes <see cref="ClientState.Closed"/>).</summary>
    /// <param name="context">What happened so far.</param>
    /// <returns>The delay before the next attempt, or null to give up. A policy that throws also stops the client; the exception is logged.</returns>
    TimeSpan? NextRetryDelay(RetryContext context);
}

/// <summary>The information a <see cref="IRetryPolicy"/> decides from.</summary>
/// <param name="PreviousRetryCount">
/// How many attempts were already made since the connection was lost (or since <see cref="LifelineClient.ConnectAsync"/>
/// for a first connection): 0 when deciding the first retry.
/// </param>
/// <param name="ElapsedTime">Time since the connection was lost (or since the first attempt began), read from the client's <see cref="TimeProvider"/>.</param>
/// <param name="Reason">
/// Why the last connection or attempt ended (<c>token_provider_failed</c> when the token provider failed before it), or
/// <c>token_refresh_failed</c> when spacing refresh tries: then <paramref name="PreviousRetryCount"/> counts the failed
/// refreshes before this one, <paramref name="ElapsedTime"/> runs from the first, and <paramref name="CloseCode"/> is null.
/// </param>
/// <param name="CloseCode">The close code of that end: the server's, or 1006 when the connection was lost without a close frame; null when none applies.</param>
public sealed record RetryContext(int PreviousRetryCount, TimeSpan ElapsedTime, string Reason, int? CloseCode);
