using System.Text.Json;

namespace Lifeline.Protocol;

/// <summary>Serializes protocol messages to compact UTF-8 JSON (one message, no line feed).</summary>
public static class ProtocolSerializer
{
    /// <summary>Serializes a server message. The bytes can be queued to any number of connections.</summary>
    /// <param name="message">The message.</param>
    /// <returns>Compact UTF-8 JSON.</returns>
    public static byte[] Serialize(ServerMessage message) =>
        JsonSerializer.SerializeToUtf8Bytes(message, message.GetType(), ProtocolJsonContext.Default);

    /// <summary>Serializes a client message.</summary>
    /// <param name="message">The message.</param>
    /// <returns>Compact UTF-8 JSON.</returns>
    public static byte[] Serialize(ClientMessage message) =>
        JsonSerializer.SerializeToUtf8Bytes(message, message.GetType(), ProtocolJsonContext.Default);
}
