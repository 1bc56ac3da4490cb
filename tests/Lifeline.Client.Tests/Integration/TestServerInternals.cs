using Lifeline.Server.Internal;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Client.Tests.Integration;

/// <summary>The server's internals behind the kit's <see cref="TestServer"/> (this assembly sees them; the kit does not).</summary>
internal static class TestServerInternals
{
    extension(TestServer server)
    {
        /// <summary>The server's runtime (registry, hub, presence).</summary>
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
