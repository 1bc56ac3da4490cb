namespace Lifeline.Protocol;

/// <summary>Fixed values of the Lifeline wire protocol, version 1.</summary>
public static class ProtocolConstants
{
    /// <summary>The protocol version carried in <c>hello.v</c> and <c>welcome.v</c>.</summary>
    public const int Version = 1;

    /// <summary>The default WebSocket endpoint path.</summary>
    public const string DefaultPath = "/ws";

    /// <summary>The longest idempotency key a publish may carry.</summary>
    public const int MaxKeyLength = 128;

    /// <summary>Offsets and ids are integers below 2^53 so that JavaScript numbers hold them exactly.</summary>
    public const long MaxSafeInteger = (1L << 53) - 1;

    /// <summary>The separator between messages packed into one frame (NDJSON).</summary>
    public const byte MessageSeparator = (byte)'\n';

    /// <summary>Prefix of the close reason that carries a reconnect hint on close 1001.</summary>
    public const string RetryAfterPrefix = "retry_after_ms=";
}
