// A channel's stream as stored in Redis: its epoch and offset, the history of deltas, and the state kept as a stored
// snapshot plus the patches after it. It publishes (one Lua script: offset, history, pending patches and the pub/sub
// message together), publishes once per idempotency key (claim, publish, record the result), reads the deltas after a
// position or else the folded state, reads the head, and compacts the pending patches into the snapshot. It owns
// _compacting (the channels with a compaction running on this node, so at most one runs per channel); everything else
// it uses is given to it by RedisEngine, which exposes these operations through ILifelineEngine and ObservedChannel,
// which reads the history to fill holes in pub/sub delivery.
using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Engine;
using Lifeline.Protocol;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Lifeline.Redis.Internal;

/// <summary>Publish, read and compaction of channel streams in Redis.</summary>
internal sealed class RedisChannelStore(
    RedisCalls calls, RedisKeys keys, RedisEngineOptions options, TimeProvider time, ILogger logger, string publishCommand)
{
    private readonly ConcurrentDictionary<string, byte> _compacting = new(StringComparer.Ordinal);

    private long NowMs => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Publishes a merge patch (a JSON object); with a <paramref name="key"/>, at most once per key in its scope.</summary>
    public async Task<PublishResult> PublishAsync(string channel, JsonElement patch, string? scope, string? key, CancellationToken cancellationToken)
    {
        var text = RedisText.CompactJson(patch);
        return key is null
            ? await PublishCoreAsync(channel, text).ConfigureAwait(false)
            : await PublishOnceAsync(channel, text, scope ?? string.Empty, key, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One atomic read: the deltas after <paramref name="since"/> up to <paramref name="upTo"/> (-1: the current offset), or a snapshot.</summary>
    public async Task<ChannelRead> ReadAsync(string channel, Position? since, long upTo)
    {
        var result = (RedisResult[])(await calls.EvalAsync(
            RedisScripts.Recover,
            [keys.Meta(channel), keys.History(channel), keys.Pending(channel)],
            [NowMs, RedisText.RandomId(8), (long)options.HistoryAge.TotalMilliseconds, (long)options.EmptyChannelTtl.TotalMilliseconds,
                since?.Epoch ?? string.Empty, since?.Offset ?? 0, upTo]).ConfigureAwait(false))!;
        var epoch = result[0].ToString();
        var offset = (long)result[1];
        switch (result[2].ToString())
        {
            case "R":
                var deltas = new ChannelDelta[(result.Length - 3) / 3];
                for (var i = 0; i < deltas.Length; i++)
                {
                    var id = result[3 + (3 * i)].ToString();
                    deltas[i] = new ChannelDelta(
                        channel,
                        epoch,
                        long.Parse(id.AsSpan(0, id.IndexOf('-', StringComparison.Ordinal)), CultureInfo.InvariantCulture),
                        RedisText.ParseJson(result[5 + (3 * i)].ToString()),
                        (long)result[4 + (3 * i)]);
                }

                return new ChannelRead(epoch, offset, Recovered: true, deltas, default);
            case "G":
                return new ChannelRead(epoch, offset, Recovered: false, [], default);
            default:
                var snapshotOffset = (long)result[3];
                var state = JsonNode.Parse(result[4].ToString())!.AsObject();
                var patches = result.Length - 5;
                for (var i = 0; i < patches; i++)
                {
                    JsonMergePatch.ApplyToObject(state, RedisText.ParseJson(result[5 + i].ToString()));
                }

                var json = state.ToJsonString();
                if (patches >= options.CompactionThreshold)
                {
                    await TryCompactAsync(channel, epoch, snapshotOffset, snapshotOffset + patches, json).ConfigureAwait(false);
                }

                return new ChannelRead(epoch, offset, Recovered: false, [], RedisText.ParseJson(json));
        }
    }

    /// <summary>The channel's epoch (created when missing) and offset.</summary>
    public async Task<(string Epoch, long Offset)> HeadAsync(string channel)
    {
        var result = (RedisResult[])(await calls.EvalAsync(
            RedisScripts.Head,
            [keys.Meta(channel), keys.History(channel), keys.Pending(channel)],
            [RedisText.RandomId(8), (long)options.EmptyChannelTtl.TotalMilliseconds]).ConfigureAwait(false))!;
        return (result[0].ToString(), (long)result[1]);
    }

    private async Task<PublishResult> PublishCoreAsync(string channel, string patch)
    {
        var result = (RedisResult[])(await calls.EvalAsync(
            RedisScripts.Publish,
            [keys.Meta(channel), keys.History(channel), keys.Pending(channel)],
            [NowMs, RedisText.RandomId(8), patch, options.HistorySize, (long)options.HistoryAge.TotalMilliseconds,
                (long)options.EmptyChannelTtl.TotalMilliseconds, publishCommand, keys.PubSub(channel)]).ConfigureAwait(false))!;
        var published = new PublishResult(result[0].ToString(), (long)result[1], (long)result[2], Duplicate: false);
        if ((long)result[3] >= options.CompactionThreshold)
        {
            StartCompaction(channel);
        }

        return published;
    }

    private async Task<PublishResult> PublishOnceAsync(string channel, string patch, string scope, string key, CancellationToken cancellationToken)
    {
        var idempotencyKey = keys.Idempotency(scope, key);
        var token = RedisText.RandomId(12);
        var claimTtl = (long)options.IdempotencyClaimTimeout.TotalMilliseconds;

        // Wait for another node's (or task's) claim at most twice its lifetime; the claim expires by itself if that publisher died.
        var giveUpAt = TimeProvider.System.GetTimestamp() + (long)(2 * options.IdempotencyClaimTimeout.TotalSeconds * TimeProvider.System.TimestampFrequency);
        var delay = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var claim = (RedisResult[])(await calls.EvalAsync(RedisScripts.ClaimKey, [idempotencyKey], [NowMs, token, claimTtl]).ConfigureAwait(false))!;
            switch (claim[0].ToString())
            {
                case "c":
                    PublishResult result;
                    try
                    {
                        result = await PublishCoreAsync(channel, patch).ConfigureAwait(false);
                    }
                    catch
                    {
                        await TryAbandonAsync(idempotencyKey, token).ConfigureAwait(false);
                        throw;
                    }

                    var expiresAt = result.Ts + (long)options.IdempotencyWindow.TotalMilliseconds;
                    var ttl = Math.Max(1, expiresAt - NowMs);
                    await calls.EvalAsync(
                        RedisScripts.CompleteKey,
                        [idempotencyKey],
                        [token, channel, result.Epoch, result.Offset, result.Ts, expiresAt, ttl]).ConfigureAwait(false);
                    return result;
                case "d":
                    var firstChannel = claim[1].ToString();
                    if (!string.Equals(firstChannel, channel, StringComparison.Ordinal))
                    {
                        RedisLog.IdempotencyKeyReused(logger, scope, firstChannel, channel);
                    }

                    return new PublishResult(claim[2].ToString(), (long)claim[3], (long)claim[4], Duplicate: true);
                default:
                    if (TimeProvider.System.GetTimestamp() > giveUpAt)
                    {
                        throw new EngineUnavailableException("an earlier publish with the same idempotency key is still in flight");
                    }

                    // Real time on purpose: this polls Redis for another publisher's progress, whatever the engine's clock says.
                    await Task.Delay(delay, TimeProvider.System, cancellationToken).ConfigureAwait(false);
                    delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 50));
                    break;
            }
        }
    }

    private async Task TryAbandonAsync(RedisKey idempotencyKey, string token)
    {
        try
        {
            await calls.EvalAsync(RedisScripts.AbandonKey, [idempotencyKey], [token]).ConfigureAwait(false);
        }
        catch (EngineUnavailableException)
        {
            // The claim expires by itself after IdempotencyClaimTimeout.
        }
    }

    private void StartCompaction(string channel)
    {
        if (!_compacting.TryAdd(channel, 0))
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await ReadAsync(channel, since: null, upTo: -1).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                RedisLog.CompactionFailed(logger, channel, ex);
            }
            finally
            {
                _compacting.TryRemove(channel, out _);
            }
        });
    }

    private async Task TryCompactAsync(string channel, string epoch, long expected, long target, string state)
    {
        try
        {
            await calls.EvalAsync(RedisScripts.Compact, [keys.Meta(channel), keys.Pending(channel)], [epoch, expected, target, state]).ConfigureAwait(false);
        }
        catch (EngineUnavailableException ex)
        {
            RedisLog.CompactionFailed(logger, channel, ex);
        }
    }
}

/// <summary>What <see cref="RedisChannelStore.ReadAsync"/> found.</summary>
internal sealed record ChannelRead(string Epoch, long Offset, bool Recovered, IReadOnlyList<ChannelDelta> Deltas, JsonElement State);
