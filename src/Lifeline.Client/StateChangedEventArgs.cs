namespace Lifeline.Client;

/// <summary>Describes one move of the client's state machine. Instances are immutable.</summary>
public sealed class StateChangedEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="oldState">The state before the move.</param>
    /// <param name="newState">The state after the move.</param>
    /// <param name="reason">Why the state changed.</param>
    /// <param name="closeCode">The WebSocket close code involved, if any.</param>
    /// <param name="timestampMs">When it happened, in Unix milliseconds from the client's <see cref="TimeProvider"/>.</param>
    /// <param name="exception">The exception that caused the move, if any.</param>
    public StateChangedEventArgs(ClientState oldState, ClientState newState, string reason, int? closeCode, long timestampMs, Exception? exception = null)
    {
        OldState = oldState;
        NewState = newState;
        Reason = reason;
        CloseCode = closeCode;
        TimestampMs = timestampMs;
        Exception = exception;
    }

    /// <summary>The state before the move.</summary>
    public ClientState OldState { get; }

    /// <summary>The state after the move.</summary>
    public ClientState NewState { get; }

    /// <summary>
    /// Why the state changed: <c>connected</c>, <c>resumed</c>, <c>watchdog</c>, <c>client_closed</c>,
    /// <c>retry_gave_up</c>, <c>retry_policy_failed</c>, <c>token_provider_failed</c> (with the provider's
    /// <see cref="Exception"/>), the server's close reason (such as <c>token_expired</c>), or a description of a transport failure.
    /// </summary>
    public string Reason { get; }

    /// <summary>
    /// The WebSocket close code: the one the server sent, 1006 for a connection lost without a close frame
    /// (including a watchdog abort), 1000 for a close asked by the application; null when none applies (for example
    /// when the token provider failed before an attempt opened a socket).
    /// </summary>
    public int? CloseCode { get; }

    /// <summary>When the move happened, in Unix milliseconds read from the client's <see cref="TimeProvider"/>.</summary>
    public long TimestampMs { get; }

    /// <summary>
    /// The transport of the connection the move is about: the one that opened (for <see cref="ClientState.Open"/>) or
    /// that ended (for <see cref="ClientState.Reconnecting"/> and <see cref="ClientState.Closed"/>). A fallback to HTTP
    /// or the move back to the WebSocket shows here. The default is <see cref="LifelineTransport.WebSocket"/>.
    /// </summary>
    public LifelineTransport Transport { get; init; }

    /// <summary>The exception behind the move (a transport error, or what the token provider threw), if any.</summary>
    public Exception? Exception { get; }

    /// <inheritdoc />
    public override string ToString() => $"{OldState} -> {NewState} ({Reason}, code {CloseCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}) at {TimestampMs}";
}
