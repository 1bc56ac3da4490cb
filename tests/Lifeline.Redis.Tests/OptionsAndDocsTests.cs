using System.Reflection;
using Lifeline.Redis.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lifeline.Redis.Tests;

/// <summary>Documented defaults against the constants, validation, registration, and the log events in docs/scaling.md.</summary>
public sealed class OptionsAndDocsTests
{
    private static string RepositoryRoot => BuildMetadata.Get(typeof(OptionsAndDocsTests).Assembly, "RepositoryRoot");

    [Fact]
    public void Defaults_AreTheDocumentedConstants()
    {
        var o = new RedisEngineOptions();

        Assert.Equal(RedisEngineOptions.DefaultConfiguration, o.Configuration);
        Assert.Equal(RedisEngineOptions.DefaultKeyPrefix, o.KeyPrefix);
        Assert.Equal(RedisEngineOptions.DefaultHistorySize, o.HistorySize);
        Assert.Equal(TimeSpan.FromSeconds(RedisEngineOptions.DefaultHistoryAgeSeconds), o.HistoryAge);
        Assert.Equal(TimeSpan.FromSeconds(RedisEngineOptions.DefaultIdempotencyWindowSeconds), o.IdempotencyWindow);
        Assert.Equal(RedisEngineOptions.DefaultCompactionThreshold, o.CompactionThreshold);
        Assert.Equal(TimeSpan.FromHours(RedisEngineOptions.DefaultEmptyChannelTtlHours), o.EmptyChannelTtl);
        Assert.Equal(TimeSpan.FromSeconds(RedisEngineOptions.DefaultNodeTtlSeconds), o.NodeTtl);
        Assert.Null(o.UseShardedPubSub);
        Assert.Null(o.NodeId);
        o.Validate();
    }

    [Theory]
    [InlineData(nameof(RedisEngineOptions.HistorySize))]
    [InlineData(nameof(RedisEngineOptions.HistoryAge))]
    [InlineData(nameof(RedisEngineOptions.IdempotencyWindow))]
    [InlineData(nameof(RedisEngineOptions.CompactionThreshold))]
    [InlineData(nameof(RedisEngineOptions.EmptyChannelTtl))]
    [InlineData(nameof(RedisEngineOptions.NodeTtl))]
    [InlineData(nameof(RedisEngineOptions.KeyPrefix))]
    public void ImpossibleValues_AreRejected(string property)
    {
        var o = new RedisEngineOptions();
        var p = typeof(RedisEngineOptions).GetProperty(property)!;
        p.SetValue(o, p.PropertyType == typeof(int) ? 0 : p.PropertyType == typeof(string) ? "" : TimeSpan.Zero);

        var ex = Assert.ThrowsAny<ArgumentException>(o.Validate);
        Assert.Contains(property, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddLifelineRedis_RejectsBadOptions_WhenTheEngineIsResolved()
    {
        var services = new ServiceCollection().AddLogging().AddLifelineRedis(o => o.HistorySize = 0);
        using var provider = services.BuildServiceProvider();

        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<RedisEngineOptions>>().Value);
    }

    [Fact]
    public void ScalingDoc_ListsEveryRedisLogEvent()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot, "docs", "scaling.md"));
        var events = typeof(RedisLog).GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
            .Select(m => m.GetCustomAttribute<LoggerMessageAttribute>())
            .OfType<LoggerMessageAttribute>()
            .ToList();

        Assert.True(events.Count >= 10);
        Assert.Equal(events.Count, events.Select(e => e.EventId).Distinct().Count());
        foreach (var e in events)
        {
            Assert.Contains($"| {e.EventId} | `{e.EventName}` | {e.Level} |", doc, StringComparison.Ordinal);
        }
    }
}
