namespace Lifeline.Client;

/// <summary>
/// A Lifeline operation failed: the client could not connect (for example the server closed with a non-retryable
/// code such as 4001), or a request could not complete.
/// </summary>
public class LifelineException : Exception
{
    /// <summary>Creates an exception with no message.</summary>
    public LifelineException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public LifelineException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public LifelineException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception that carries a close code.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="closeCode">The WebSocket close code involved, if any.</param>
    /// <param name="innerException">The cause, if any.</param>
    public LifelineException(string message, int? closeCode, Exception? innerException = null)
        : base(message, innerException)
    {
        CloseCode = closeCode;
    }

    /// <summary>The WebSocket close code behind the failure (for example 4001 for an unauthorized client), if any.</summary>
    public int? CloseCode { get; }
}

/// <summary>
/// A request was waiting for a reply when its connection was lost or the client was closed, or it needed a connection
/// and there was none. Subscriptions stay registered and are made again on the next connection; publishes never fail
/// this way while the client is reconnecting (they are re-sent), only when it is closed.
/// </summary>
public class LifelineDisconnectedException : LifelineException
{
    /// <summary>Creates an exception with a default message.</summary>
    public LifelineDisconnectedException()
        : base("the connection to the Lifeline server was lost")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public LifelineDisconnectedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public LifelineDisconnectedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The server refused a request (<c>reply.ok</c> false, or an <c>error</c> answering it).</summary>
public class LifelineRequestException : LifelineException
{
    /// <summary>Creates an exception with no message.</summary>
    public LifelineRequestException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public LifelineRequestException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public LifelineRequestException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception for a refusal by the server.</summary>
    /// <param name="errorCode">The server's error code (see <c>Lifeline.Protocol.ErrorCodes</c>).</param>
    /// <param name="message">The server's explanation.</param>
    public LifelineRequestException(string errorCode, string message)
        : base($"{errorCode}: {message}")
    {
        ErrorCode = errorCode;
    }

    /// <summary>The server's error code, for example <c>forbidden</c> or <c>limit_exceeded</c>.</summary>
    public string? ErrorCode { get; }
}

/// <summary>The server refused a publish; the patch was not applied.</summary>
public class LifelinePublishException : LifelineRequestException
{
    /// <summary>Creates an exception with no message.</summary>
    public LifelinePublishException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public LifelinePublishException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public LifelinePublishException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception for a refused publish.</summary>
    /// <param name="errorCode">The server's error code, for example <c>forbidden</c>.</param>
    /// <param name="message">The server's explanation.</param>
    public LifelinePublishException(string errorCode, string message)
        : base(errorCode, message)
    {
    }
}

/// <summary>
/// A publish was refused locally because <see cref="LifelineClientOptions.OfflineQueueLimit"/> publishes are already waiting
/// for the server's acknowledgement. Nothing was queued; try again once earlier publishes completed.
/// </summary>
public class LifelineQueueFullException : LifelineException
{
    /// <summary>Creates an exception with a default message.</summary>
    public LifelineQueueFullException()
        : base("the publish queue is full")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public LifelineQueueFullException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public LifelineQueueFullException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
