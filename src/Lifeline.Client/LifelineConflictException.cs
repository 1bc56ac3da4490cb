using Lifeline.Protocol;

namespace Lifeline.Client;

/// <summary>
/// A conditional publish (<see cref="LifelineChannel.PublishAsync(System.Text.Json.Nodes.JsonObject, Position?, CancellationToken)"/>
/// with an expected position) found the channel at another position: nothing was applied. <see cref="CurrentPosition"/> is
/// where the channel was when the server refused it; read the state again (once the channel reached that position) and
/// retry, as <see cref="LifelineChannel.UpdateAsync"/> does.
/// </summary>
public class LifelineConflictException : LifelinePublishException
{
    /// <summary>Creates an exception with no message.</summary>
    public LifelineConflictException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public LifelineConflictException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public LifelineConflictException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a <c>conflict</c> reply.</summary>
    /// <param name="currentPosition">The channel's position the server reported (<c>error.epoch</c>, <c>error.offset</c>).</param>
    /// <param name="message">The server's explanation.</param>
    public LifelineConflictException(Position? currentPosition, string message)
        : base(ErrorCodes.Conflict, message)
    {
        CurrentPosition = currentPosition;
    }

    /// <summary>
    /// The channel's position when the server refused the publish (from the reply's <c>error.epoch</c> and
    /// <c>error.offset</c>); null only if a server left them out.
    /// </summary>
    public Position? CurrentPosition { get; }

    /// <summary>Builds the exception for a refused publish: a <see cref="LifelineConflictException"/> for <c>conflict</c>.</summary>
    internal static LifelinePublishException ForRefusal(ErrorInfo? error)
    {
        var code = error?.Code ?? "refused";
        var message = error?.Message ?? "the server refused the publish";
        if (code != ErrorCodes.Conflict)
        {
            return new LifelinePublishException(code, message);
        }

        var position = error is { Epoch: { } epoch, Offset: { } offset } ? new Position(epoch, offset) : null;
        return new LifelineConflictException(position, message);
    }
}
