using Lifeline.Server.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests.Infrastructure;

/// <summary>
/// The server's internals behind the kit's <see cref="TestServer"/>: the test assemblies the server lets see them
/// (this one, and Lifeline.Client.Tests, which compiles this file in) can reach them; the kit cannot.
/// </summary>
internal static class TestServerInternals
{
    extension(TestServer server)
    {
        /// <summary>The server's runtime (registry, limits, hub, presence).</summary>
        internal LifelineRuntime Runtime => server.Services.GetRequiredService<LifelineRuntime>();

        /// <summary>Awaits the teardown of every registered connection until none is left.</summary>
        internal async Task WaitForNoConnectionsAsync()
        {
            while (server.Runtime.Registry.All.ToList() is { Count: > 0 } left)
            {
                await Task.WhenAll(left.Select(c => c.Closed));
            }
        }
    }
}
