using Lifeline.Server.Internal;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests.Infrastructure;

/// <summary>The server's internals behind the kit's <see cref="TestServer"/> (this assembly sees them; the kit does not).</summary>
internal static class TestServerInternals
{
    extension(TestServer server)
    {
        /// <summary>The server's runtime (registry, limits, hub, presence).</summary>
        internal LifelineRuntime Runtime => server.Services.GetRequiredService<LifelineRuntime>();
    }
}
