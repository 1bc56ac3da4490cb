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

    /// <summary>The error code (one of <see cref="ErrorCodes"/>).</summary>
    public string Code { get; } = ErrorCodes.InvalidMessage;
}
