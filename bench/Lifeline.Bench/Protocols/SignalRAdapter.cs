using System.Text;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Protocols;

/// <summary>
/// ASP.NET Core SignalR, JSON hub protocol over a WebSocket without negotiation: handshake
/// <c>{"protocol":"json","version":1}</c>, messages ended by 0x1E, invocations of the hub's Subscribe/Publish, the
/// server's pings (type 6) answered with a ping so that the server's client timeout sees a live client.
/// </summary>
internal sealed class SignalRAdapter : IProtocolAdapter
{
    public static readonly SignalRAdapter Instance = new(ServerKind.SignalR);

    /// <summary>The same hub protocol over SignalR's Server-Sent Events transport.</summary>
    public static readonly SignalRAdapter Sse = new(ServerKind.SignalRSse);

    private SignalRAdapter(ServerKind kind) => Kind = kind;

    private const char RecordSeparator = '\u001e';

    public ServerKind Kind { get; }

    public string Path => "/hub";

    public byte Separator => 0x1E;

    public ReadOnlySpan<byte> OpenMessage => "{\"protocol\":\"json\",\"version\":1}\u001e"u8;

    public bool ReadyOnOpen => false;

    public ReadOnlySpan<byte> KeepAliveMessage => "{\"type\":6}\u001e"u8;

    public int KeepAliveAfterMs => 5000;

    public byte[] Subscribe(string channel, int id) =>
        Encoding.UTF8.GetBytes($$"""{"type":1,"invocationId":"{{id}}","target":"Subscribe","arguments":["{{channel}}"]}{{RecordSeparator}}""");

    public byte[] Publish(string channel, int id, string payload) =>
        Encoding.UTF8.GetBytes($$"""{"type":1,"invocationId":"{{id}}","target":"Publish","arguments":["{{channel}}","{{payload}}"]}{{RecordSeparator}}""");

    public byte[] Emit(string channel, int id, string payload) =>
        Encoding.UTF8.GetBytes($$"""{"type":1,"invocationId":"{{id}}","target":"Emit","arguments":["{{channel}}","{{payload}}"]}{{RecordSeparator}}""");

    public void OnControl(BenchClient client, ReadOnlySpan<byte> message)
    {
        if (message.IsEmpty)
        {
            return;
        }

        if (message.SequenceEqual("{\"type\":6}"u8))
        {
            client.Send("{\"type\":6}\u001e"u8);
            client.CountPing();
        }
        else if (message.SequenceEqual("{}"u8))
        {
            client.SignalWaiter(true); // handshake accepted
        }
        else if (message.IndexOf("\"type\":3"u8) >= 0)
        {
            var ok = message.IndexOf("\"error\""u8) < 0;
            if (!client.SignalWaiter(ok))
            {
                client.SignalAck(ok);
            }
        }
        else if (message.IndexOf("\"error\""u8) >= 0)
        {
            client.SignalWaiter(false);
        }
    }
}
