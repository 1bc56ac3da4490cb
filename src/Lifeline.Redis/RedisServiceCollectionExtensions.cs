using Lifeline.Engine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lifeline.Redis;

/// <summary>Registers the Redis engine.</summary>
public static class RedisServiceCollectionExtensions
{
    /// <summary>
    /// Makes <see cref="RedisEngine"/> the <see cref="ILifelineEngine"/> (replacing the embedded <see cref="MemoryEngine"/>
    /// whether <c>AddLifeline</c> ran before or after). The engine connects with <see cref="RedisEngineOptions.Configuration"/>
    /// when first resolved, and starts even if Redis is down (publishes fail with <c>unavailable</c> until it is up).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets options; may be null (then <c>localhost:6379</c> and the documented defaults).</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddLifelineRedis(this IServiceCollection services, Action<RedisEngineOptions>? configure = null)
    {
        var options = services.AddOptions<RedisEngineOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.Validate(
            o =>
            {
                try
                {
                    o.Validate();
                    return true;
                }
                catch (ArgumentException)
                {
                    return false;
                }
            },
            "RedisEngineOptions: a value is out of range (see the property documentation)");
        services.TryAddSingleton(TimeProvider.System);
        services.RemoveAll<ILifelineEngine>();
        services.TryAddSingleton(sp => RedisEngine.Connect(
            sp.GetRequiredService<IOptions<RedisEngineOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILogger<RedisEngine>>()));
        services.AddSingleton<ILifelineEngine>(sp => sp.GetRequiredService<RedisEngine>());
        return services;
    }
}
