using System.Buffers.Text;
using System.Text;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Protocols;

/// <summary>Lifeline (PROTOCOL.md): hello/welcome, application ping answered with pong, subscribe/publish/delta, NDJSON batches.</summary>
internal sealed class LifelineAdapter : IProtocolAdapter
{
    public static readonly LifelineAdapter Instance = new(ServerKind.Lifeline);

    /// <summary>The same protocol over the HTTP transport (PROTOCOL.md "HTTP transport").</summary>
    public static readonly LifelineAdapter Http = new(ServerKind.LifelineHttp);

    /// <summary>The same protocol and path through the lean listener.</summary>
    public static readonly LifelineAdapter Lean = new(ServerKind.LifelineLean);

    private LifelineAdapter(ServerKind kind) => Kind = kind;

    public ServerKind Kind { get; }

    public string Path => "/ws";

    public byte Separator => (byte)'\n';

    public ReadOnlySpan<byte> OpenMessage => """{"type":"hello","v":1,"client":"lifeline-bench"}"""u8;

    public bool ReadyOnOpen => false;

    public ReadOnlySpan<byte> KeepAliveMessage => [];

    public int KeepAliveAfterMs => 0;

    public byte[] Subscribe(string channel, int id) =>
        Encoding.UTF8.GetBytes($$"""{"type":"subscribe","id":{{id}},"channel":"{{channel}}"}""");

    public byte[] Publish(string channel, int id, string payload) =>
        Encoding.UTF8.GetBytes($$$"""{"type":"publish","id":{{{id}}},"channel":"{{{channel}}}","patch":{"b":"{{{payload}}}"}}""");

    public byte[] Emit(string channel, int id, string payload) =>
        Encoding.UTF8.GetBytes($$"""{"type":"emit","id":{{id}},"channel":"{{channel}}","data":"{{payload}}"}""");

    public void OnControl(BenchClient client, ReadOnlySpan<byte> message)
    {
        if (message.IndexOf("\"type\":\"ping\""u8) >= 0)
        {
            var at = message.IndexOf("\"n\":"u8);
            if (at >= 0 && Utf8Parser.TryParse(message[(at + 4)..], out long n, out _))
            {
                var prefix = "{\"type\":\"pong\",\"n\":"u8;
                Span<byte> pong = stackalloc byte[64];
                prefix.CopyTo(pong);
                Utf8Formatter.TryFormat(n, pong[prefix.Length..], out var written);
                pong[prefix.Length + written] = (byte)'}';
                client.Send(pong[..(prefix.Length + written + 1)]);
                client.CountPing();
            }
        }
        else if (message.IndexOf("\"type\":\"reply\""u8) >= 0)
        {
            client.SignalAck(message.IndexOf("\"ok\":true"u8) >= 0);
        }
        else if (message.IndexOf("\"type\":\"subscribed\""u8) >= 0 || message.IndexOf("\"type\":\"welcome\""u8) >= 0)
        {
            client.SignalWaiter(true);
        }
        else if (message.IndexOf("\"type\":\"error\""u8) >= 0)
        {
            client.SignalWaiter(false);
            client.SignalAck(false);
        }
    }
}
