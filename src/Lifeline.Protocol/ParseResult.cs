namespace Lifeline.Protocol;

/// <summary>
/// The outcome of parsing one client frame: a message, a recoverable error (answered with an
/// <c>error</c> message, connection stays open) or a fatal payload error (close 1007).
/// </summary>
public readonly record struct ParseResult
{
    /// <summary>The parsed message, when parsing succeeded.</summary>
    public ClientMessage? Message { get; private init; }

    /// <summary>The error code (one of <see cref="ErrorCodes"/>) for a recoverable error.</summary>
    public string? ErrorCode { get; private init; }

    /// <summary>A human-readable description of what was wrong.</summary>
    public string? ErrorMessage { get; private init; }

    /// <summary>The request id, when one could be read from an otherwise invalid message.</summary>
    public long? Id { get; private init; }

    /// <summary>The message <c>type</c>, when one could be read.</summary>
    public string? Type { get; private init; }

    /// <summary>True when the payload is not UTF-8 JSON object text: the connection closes with 1007.</summary>
    public bool IsFatal { get; private init; }

    /// <summary>True when <see cref="Message"/> holds a parsed message.</summary>
    public bool IsSuccess => Message is not null;

    internal static ParseResult Ok(ClientMessage message) => new() { Message = message, Type = message.Type, Id = message.Id };

    internal static ParseResult Invalid(string code, string message, string? type, long? id) =>
        new() { ErrorCode = code, ErrorMessage = message, Type = type, Id = id };

    internal static ParseResult Fatal(string message) =>
        new() { IsFatal = true, ErrorCode = ErrorCodes.InvalidMessage, ErrorMessage = message };
}
