namespace Lifeline.Chaos.Tests.Infrastructure;

/// <summary>
/// The chaos suite's use of the lab's <see cref="NetworkPair"/>: namespaces <c>llc-srv-PID-N</c> (the server) and
/// <c>llc-cli-PID-N</c> (the clients), veth <c>vs</c>/<c>vc</c>, 10.213.X.1/30 and 10.213.X.2/30, faults in table
/// <c>inet llc</c> of the server's namespace on the veth only (loopback there, the observer's path, is never affected),
/// and <c>lifeline serve</c> on <see cref="ServerPort"/>. Disposing the pair deletes it all, also when a test failed.
/// </summary>
public static class ChaosNetwork
{
    public const int ServerPort = 18080;

    /// <summary>Names and addresses apart from bench's (<c>benchnet-*</c>, 10.214), so both can run on one machine.</summary>
    public static readonly NetworkPairOptions Options = new("llc", "10.213");

    /// <summary>Creates the pair; fails (never skips) without root, ip, nft, tc or ss.</summary>
    public static async Task<NetworkPair> CreateAsync()
    {
        if (Shell.MissingPrivileges("ip", "nft", "tc", "ss") is { } problems)
        {
            Assert.Fail("chaos tests cannot run: " + problems + "(./test.sh installs iproute2 and nftables; run as root; CI=true never skips)");
        }

        return await NetworkPair.CreateAsync(Options);
    }

    extension(NetworkPair net)
    {
        /// <summary>The server's WebSocket endpoint, on its veth address.</summary>
        public Uri WebSocketUrl => new($"ws://{net.ServerIp}:{ServerPort}/ws");

        /// <summary>The server's health endpoint, on its veth address.</summary>
        public Uri HealthUrl => new($"http://{net.ServerIp}:{ServerPort}/healthz");

        /// <summary>The server namespace's TCP sockets on the server port whose peer is in the clients' namespace: (state, peer).</summary>
        public Task<List<(string State, string Peer)>> ServerSocketsToClientsAsync() => net.ServerSocketsToClientsAsync(ServerPort);

        /// <summary>
        /// Those of them a process holds: what the server still has open. The others are the kernel's orphans
        /// (TIME-WAIT, FIN-WAIT-2 after the process closed its side), which the kernel drops by itself.
        /// </summary>
        public Task<List<(string State, string Peer)>> ServerProcessSocketsToClientsAsync() => net.ServerSocketsToClientsAsync(ServerPort, ownedOnly: true);
    }
}
