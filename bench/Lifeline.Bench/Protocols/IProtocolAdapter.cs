using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Protocols;

/// <summary>
/// One server's wire protocol, as the generator speaks it. Stateless: per-connection state lives in
/// <see cref="BenchClient"/>. Received text frames are split on <see cref="Separator"/>; each message that carries a
/// payload (<see cref="Payload"/>) is a delivery, every other message goes to <see cref="OnControl"/>.
/// </summary>
internal interface IProtocolAdapter
{
    ServerKind Kind { get; }

    /// <summary>The WebSocket path on the server.</summary>
    string Path { get; }

    /// <summary>Separator between messages packed in one frame; 0 when every frame is one message.</summary>
    byte Separator { get; }

    /// <summary>What to send right after the upgrade (Lifeline hello, SignalR handshake); empty when nothing.</summary>
    ReadOnlySpan<byte> OpenMessage { get; }

    /// <summary>True when the connection is usable as soon as it is upgraded (no handshake reply to wait for).</summary>
    bool ReadyOnOpen { get; }

    /// <summary>
    /// A message the client sends on its own when it has sent nothing for <see cref="KeepAliveAfterMs"/> (SignalR clients
    /// ping on their own timer: a server busy sending data does not ping, yet times out a silent client); empty when none.
    /// </summary>
    ReadOnlySpan<byte> KeepAliveMessage { get; }

    /// <summary>See <see cref="KeepAliveMessage"/>.</summary>
    int KeepAliveAfterMs { get; }

    byte[] Subscribe(string channel, int id);

    byte[] Publish(string channel, int id, string payload);

    /// <summary>
    /// An ephemeral event to every other subscriber of the channel (not the sender, nothing stored): Lifeline's
    /// <c>emit</c>, the SignalR hub's <c>Emit</c> (<c>Clients.OthersInGroup</c>), the ws server's broadcast to the others.
    /// Acknowledged like a publish.
    /// </summary>
    byte[] Emit(string channel, int id, string payload);

    /// <summary>Handles a message that is not a delivery: heartbeats (answered here), handshake replies, acks.</summary>
    void OnControl(BenchClient client, ReadOnlySpan<byte> message);
}
