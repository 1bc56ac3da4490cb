using Lifeline.Engine;
using Lifeline.Server.Channels;
using Lifeline.Server.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Lifeline.Server;

/// <summary>Registers Lifeline's services.</summary>
public static class LifelineServiceCollectionExtensions
{
    /// <summary>
    /// Adds the Lifeline server: options (validated at start-up), the heartbeat scheduler, the connection registry,
    /// the default anonymous authenticator (replace it by registering your own <see cref="ILifelineAuthenticator"/>),
    /// the embedded <see cref="MemoryEngine"/> (configure it with <c>services.Configure&lt;MemoryEngineOptions&gt;</c>;
    /// replace it by registering another <see cref="ILifelineEngine"/>), the allow-all <see cref="IChannelPolicy"/>,
    /// metrics and the graceful-shutdown drain.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets options; may be null.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddLifeline(this IServiceCollection services, Action<LifelineOptions>? configure = null)
    {
        var options = services.AddOptions<LifelineOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LifelineOptions>, LifelineOptionsValidator>());
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ILifelineAuthenticator, AnonymousAuthenticator>();
        services.TryAddSingleton<LifelineMetrics>();
        services.TryAddSingleton<IChannelPolicy, AllowAllChannelPolicy>();
        services.TryAddSingleton<ILifelineEngine>(sp => new MemoryEngine(
            sp.GetService<IOptions<MemoryEngineOptions>>()?.Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILogger<MemoryEngine>>()));
        services.TryAddSingleton<ChannelHub>();
        services.TryAddSingleton<PresenceTracker>();
        services.TryAddSingleton<ConnectionRegistry>();
        services.TryAddSingleton<HeartbeatScheduler>();
        services.TryAddSingleton<LifelineRuntime>();
        services.TryAddSingleton(sp => new LifelineServer(sp.GetRequiredService<LifelineRuntime>()));
        services.AddHostedService<ShutdownService>();
        return services;
    }
}
