using Lifeline.Protocol;

namespace Lifeline.Server;

/// <summary>A server-side request (publish, read) was refused; <see cref="Code"/> is one of <see cref="ErrorCodes"/>.</summary>
public sealed class LifelineRequestException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="code">The error code.</param>
    /// <param name="message">What was wrong.</param>
    public LifelineRequestException(string code, string message) : base(message) => Code = code;

    /// <summary>Creates the exception with the generic code <see cref="ErrorCodes.InvalidMessage"/>.</summary>
    public LifelineRequestException() : this(ErrorCodes.InvalidMessage, "invalid request")
    {
    }

    /// <summary>Creates the exception with the generic code <see cref="ErrorCodes.InvalidMessage"/>.</summary>
    /// <param name="message">What was wrong.</param>
    public LifelineRequestException(string message) : this(ErrorCodes.InvalidMessage, message)
    {
    }

    /// <summary>Creates the exception with the generic code <see cref="ErrorCodes.InvalidMessage"/> and a cause.</summary>
    /// <param name="message">What was wrong.</param>
    /// <param name="innerException">The cause.</param>
    public LifelineRequestException(string message, Exception innerException) : base(message, innerException) => Code = ErrorCodes.InvalidMessage;

    /// <summary>Creates the exception for a conditional publish that found the channel at another position.</summary>
    /// <param name="currentPosition">The channel's current epoch and offset.</param>
    /// <param name="message">What was wrong.</param>
    public LifelineRequestException(Position currentPosition, string message) : this(ErrorCodes.Conflict, message)
    {
        ArgumentNullException.ThrowIfNull(currentPosition);
        CurrentPosition = currentPosition;
    }

    /// <summary>The error code (one of <see cref="ErrorCodes"/>).</summary>
    public string Code { get; } = ErrorCodes.InvalidMessage;

    /// <summary>
    /// For <see cref="ErrorCodes.Conflict"/>: the channel's current position (what to re-read from before retrying, and
    /// what an HTTP API answers with its 409); null for every other code.
    /// </summary>
    public Position? CurrentPosition { get; }
}
