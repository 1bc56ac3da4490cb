namespace Lifeline.Bench.Servers;

/// <summary>The servers compared: Lifeline (MapLifeline) and the two anchors.</summary>
internal enum ServerKind
{
    Lifeline,
    SignalR,
    Ws,
}

internal static class ServerKinds
{
    public static readonly IReadOnlyList<ServerKind> All = [ServerKind.Lifeline, ServerKind.SignalR, ServerKind.Ws];

    public static string Name(this ServerKind kind) => kind switch
    {
        ServerKind.Lifeline => "lifeline",
        ServerKind.SignalR => "signalr",
        ServerKind.Ws => "ws",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static ServerKind Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "lifeline" => ServerKind.Lifeline,
        "signalr" => ServerKind.SignalR,
        "ws" => ServerKind.Ws,
        _ => throw new ArgumentException($"unknown server '{name}' (lifeline, signalr, ws)"),
    };
}
