namespace Lifeline.Client.Tests.Integration;

/// <summary>The settings the client's integration tests run the real server with (the server itself is the kit's <see cref="TestServer"/>).</summary>
internal static class RealServer
{
    /// <summary>Starts a server; tokens are user ids, and the token <c>bad</c> is refused with 4001.</summary>
    public static Task<TestServer> StartAsync(TimeSpan heartbeatInterval, TimeSpan heartbeatTimeout, int port = 0) => TestServer.StartAsync(
        o =>
        {
            o.HeartbeatInterval = heartbeatInterval;
            o.HeartbeatTimeout = heartbeatTimeout;
            o.ShutdownRetrySpread = TimeSpan.FromMilliseconds(100);
            o.DrainTimeout = TimeSpan.FromSeconds(2);
        },
        port: port,
        authenticator: new TokenIsUserAuthenticator());
}
