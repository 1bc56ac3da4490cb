namespace Lifeline.Server.Connections;

/// <summary>
/// Internal seams for tests (reached through <c>InternalsVisibleTo</c>; not part of the public API): points where a test
/// may force an interleaving that a loaded machine produces only by chance. Null in production.
/// </summary>
internal sealed class ConnectionTestHooks
{
    /// <summary>Called right after a connection moved to Open, before the hello handler goes on (log, OnConnected).</summary>
    public Action<Connection>? Opened { get; set; }
}
