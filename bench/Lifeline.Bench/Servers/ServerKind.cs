namespace Lifeline.Bench.Servers;

/// <summary>The servers compared: Lifeline (MapLifeline; and its lean listener) and the two anchors.</summary>
internal enum ServerKind
{
    Lifeline,
    SignalR,
    Ws,

    /// <summary>Lifeline's HTTP transport (Server-Sent Events stream, sends as POST), same server as <see cref="Lifeline"/>.</summary>
    LifelineHttp,

    /// <summary>SignalR's Server-Sent Events transport, same server as <see cref="SignalR"/>.</summary>
    SignalRSse,

    /// <summary>
    /// Lifeline's lean listener: the same server and protocol as <see cref="Lifeline"/>, its Kestrel endpoint with
    /// <c>UseLifeline("/ws")</c> (the upgrade done in connection middleware; <c>BENCH_LIFELINE_LISTENER=lean</c>).
    /// </summary>
    LifelineLean,
}

internal static class ServerKinds
{
    public static readonly IReadOnlyList<ServerKind> All = [ServerKind.Lifeline, ServerKind.SignalR, ServerKind.Ws];

    public static string Name(this ServerKind kind) => kind switch
    {
        ServerKind.Lifeline => "lifeline",
        ServerKind.SignalR => "signalr",
        ServerKind.Ws => "ws",
        ServerKind.LifelineHttp => "lifeline-http",
        ServerKind.SignalRSse => "signalr-sse",
        ServerKind.LifelineLean => "lifeline-lean",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static ServerKind Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "lifeline" => ServerKind.Lifeline,
        "signalr" => ServerKind.SignalR,
        "ws" => ServerKind.Ws,
        "lifeline-http" => ServerKind.LifelineHttp,
        "signalr-sse" => ServerKind.SignalRSse,
        "lifeline-lean" => ServerKind.LifelineLean,
        _ => throw new ArgumentException($"unknown server '{name}' (lifeline, signalr, ws, lifeline-http, signalr-sse, lifeline-lean)"),
    };

    /// <summary>Lifeline over a WebSocket, through either listener: the same protocol, the same workloads.</summary>
    public static bool IsLifelineWebSocket(this ServerKind kind) => kind is ServerKind.Lifeline or ServerKind.LifelineLean;
}
