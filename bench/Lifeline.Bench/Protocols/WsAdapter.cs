using System.Text;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Protocols;

/// <summary>
/// The Node ws server (bench/servers/ws/server.js): plain JSON text messages, one per frame; its heartbeat is WebSocket
/// ping/pong, answered by <see cref="Net.RawWebSocket"/> itself.
/// </summary>
internal sealed class WsAdapter : IProtocolAdapter
{
    public static readonly WsAdapter Instance = new();

    public ServerKind Kind => ServerKind.Ws;

    public string Path => "/";

    public byte Separator => 0;

    public ReadOnlySpan<byte> OpenMessage => [];

    public bool ReadyOnOpen => true;

    public ReadOnlySpan<byte> KeepAliveMessage => [];

    public int KeepAliveAfterMs => 0;

    public byte[] Subscribe(string channel, int id) =>
        Encoding.UTF8.GetBytes($$"""{"type":"subscribe","id":{{id}},"channel":"{{channel}}"}""");

    public byte[] Publish(string channel, int id, string payload) =>
        Encoding.UTF8.GetBytes($$"""{"type":"publish","id":{{id}},"channel":"{{channel}}","data":"{{payload}}"}""");

    public byte[] Emit(string channel, int id, string payload) =>
        Encoding.UTF8.GetBytes($$"""{"type":"emit","id":{{id}},"channel":"{{channel}}","data":"{{payload}}"}""");

    public void OnControl(BenchClient client, ReadOnlySpan<byte> message)
    {
        if (message.IndexOf("\"type\":\"reply\""u8) >= 0)
        {
            client.SignalAck(true);
        }
        else if (message.IndexOf("\"type\":\"subscribed\""u8) >= 0)
        {
            client.SignalWaiter(true);
        }
    }
}
