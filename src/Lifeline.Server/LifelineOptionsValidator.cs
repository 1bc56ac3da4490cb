using Microsoft.Extensions.Options;

namespace Lifeline.Server;

/// <summary>Refuses impossible <see cref="LifelineOptions"/> (zero or negative durations and sizes) at start-up.</summary>
public sealed class LifelineOptionsValidator : IValidateOptions<LifelineOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, LifelineOptions options)
    {
        var failures = new List<string>();
        Positive(failures, nameof(options.HeartbeatInterval), options.HeartbeatInterval);
        Positive(failures, nameof(options.HeartbeatTimeout), options.HeartbeatTimeout);
        Positive(failures, nameof(options.HandshakeTimeout), options.HandshakeTimeout);
        Positive(failures, nameof(options.CloseHandshakeTimeout), options.CloseHandshakeTimeout);
        Positive(failures, nameof(options.DrainTimeout), options.DrainTimeout);
        Positive(failures, nameof(options.DisconnectedHookTimeout), options.DisconnectedHookTimeout);
        Positive(failures, nameof(options.ResumeWindow), options.ResumeWindow);
        Positive(failures, nameof(options.PublishBacklogTimeout), options.PublishBacklogTimeout);
        if (options.PresenceGracePeriod < TimeSpan.Zero)
        {
            failures.Add($"{nameof(options.PresenceGracePeriod)} must not be negative (was {options.PresenceGracePeriod}).");
        }

        if (options.MaxChannelNameLength < 1)
        {
            failures.Add($"{nameof(options.MaxChannelNameLength)} must be at least 1 (was {options.MaxChannelNameLength}).");
        }

        if (options.ShutdownRetrySpread < TimeSpan.Zero)
        {
            failures.Add($"{nameof(options.ShutdownRetrySpread)} must not be negative (was {options.ShutdownRetrySpread}).");
        }

        if (options.MaxMessageSize < 256)
        {
            failures.Add($"{nameof(options.MaxMessageSize)} must be at least 256 bytes (was {options.MaxMessageSize}).");
        }

        if (options.SendQueueLimit < 1)
        {
            failures.Add($"{nameof(options.SendQueueLimit)} must be at least 1 (was {options.SendQueueLimit}).");
        }

        if (options.MaxFrameSize < 1024)
        {
            failures.Add($"{nameof(options.MaxFrameSize)} must be at least 1024 bytes (was {options.MaxFrameSize}).");
        }

        AtLeast(failures, nameof(options.PublishBacklogLimit), options.PublishBacklogLimit, 0);
        AtLeast(failures, nameof(options.MaxMessagesPerSecond), options.MaxMessagesPerSecond, 1);
        AtLeast(failures, nameof(options.MessageBurst), options.MessageBurst, 1);
        AtLeast(failures, nameof(options.RateLimitAbuseThreshold), options.RateLimitAbuseThreshold, 1);
        AtLeast(failures, nameof(options.MaxSubscriptionsPerConnection), options.MaxSubscriptionsPerConnection, 1);
        AtLeast(failures, nameof(options.MaxConnectionsPerUser), options.MaxConnectionsPerUser, 1);
        AtLeast(failures, nameof(options.MaxConnectionsPerAddress), options.MaxConnectionsPerAddress, 1);
        AtLeast(failures, nameof(options.MaxJsonDepth), options.MaxJsonDepth, 2);
        AtLeast(failures, nameof(options.MaxPatchSize), options.MaxPatchSize, 2);
        AtLeast(failures, nameof(options.MaxPendingHandshakes), options.MaxPendingHandshakes, 1);
        if (options.AllowedOrigins is null || options.AllowedOrigins.Any(o => !Transport.OriginPolicy.IsValidEntry(o)))
        {
            failures.Add($"{nameof(options.AllowedOrigins)} entries must be '*' or scheme://host[:port|:*] (was {string.Join(", ", options.AllowedOrigins ?? [])}).");
        }

        if (options.Events is null)
        {
            failures.Add($"{nameof(options.Events)} must not be null.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void AtLeast(List<string> failures, string name, int value, int minimum)
    {
        if (value < minimum)
        {
            failures.Add($"{name} must be at least {minimum} (was {value}).");
        }
    }

    private static void Positive(List<string> failures, string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            failures.Add($"{name} must be positive (was {value}).");
        }
    }
}
