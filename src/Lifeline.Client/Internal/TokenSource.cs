namespace Lifeline.Client.Internal;

/// <summary>
/// Where the client's tokens come from: the application's <see cref="LifelineClientOptions.TokenProvider"/>, or the
/// fixed <see cref="LifelineClientOptions.Token"/> (issue 14). One call per connection attempt and per refresh; a call
/// that throws, returns null or outlasts its bound fails with the reason, never hangs. It never logs a token.
/// </summary>
internal sealed class TokenSource
{
    private readonly Func<CancellationToken, ValueTask<string?>>? _provider;
    private readonly string? _fixed;

    public TokenSource(LifelineClientOptions options)
    {
        _provider = options.TokenProvider;
        _fixed = options.Token;
    }

    /// <summary>Whether a refresh can bring a new token (a provider is set); a fixed token is never refreshed.</summary>
    public bool CanRefresh => _provider is not null;

    /// <summary>Returns the token for the next <c>hello</c> or <c>refresh</c>.</summary>
    /// <param name="timeout">The bound on the provider's call.</param>
    /// <param name="time">The clock of the bound.</param>
    /// <param name="cancellationToken">Cancelled when the attempt or connection is abandoned.</param>
    /// <returns>The token; null only for an anonymous client (neither a provider nor a fixed token).</returns>
    /// <exception cref="LifelineException">The provider returned null or did not answer in time; or whatever it threw.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async ValueTask<string?> GetAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        if (_provider is null)
        {
            return _fixed;
        }

        using var bound = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(bound.Token, cancellationToken);
        string? token;
        try
        {
            // WaitAsync: a provider that ignores its token still cannot hold the attempt past the bound.
            token = await _provider(linked.Token).AsTask().WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (bound.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new LifelineException($"the token provider did not return within {(long)timeout.TotalMilliseconds} ms", ex);
        }

        return token ?? throw new LifelineException("the token provider returned null");
    }
}
