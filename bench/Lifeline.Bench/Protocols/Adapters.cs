using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Protocols;

internal static class Adapters
{
    public static IProtocolAdapter For(ServerKind kind) => kind switch
    {
        ServerKind.Lifeline => LifelineAdapter.Instance,
        ServerKind.SignalR => SignalRAdapter.Instance,
        ServerKind.Ws => WsAdapter.Instance,
        ServerKind.LifelineHttp => LifelineAdapter.Http,
        ServerKind.SignalRSse => SignalRAdapter.Sse,
        ServerKind.LifelineLean => LifelineAdapter.Lean,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
