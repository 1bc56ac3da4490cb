// A channel's stream as stored in Redis: its epoch and offset, the history of deltas, and the state kept as a stored
// snapshot plus the patches after it. It publishes (one Lua script: the idempotency key, the condition, offset, history,
// pending patches, the pub/sub message and the key's result together), reads the deltas after a
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

    /// <summary>
    /// Publishes a merge patch (a JSON object) in one script: with a <paramref name="key"/>, at most once per (channel,
    /// scope, key) within the window; with <paramref name="expected"/>, only at exactly that position (otherwise a
    /// conflict with the current position, and nothing changes).
    /// </summary>
    public async Task<PublishResult> PublishAsync(string channel, JsonElement patch, Position? expected, string? scope, string? key)
    {
        RedisKey[] scriptKeys = key is null
            ? [keys.Meta(channel), keys.History(channel), keys.Pending(channel)]
            : [keys.Meta(channel), keys.History(channel), keys.Pending(channel), keys.Idempotency(channel, scope ?? string.Empty, key)];
        var result = (RedisResult[])(await calls.EvalAsync(
            RedisScripts.Publish,
            scriptKeys,
            [NowMs, RedisText.RandomId(8), RedisText.CompactJson(patch), options.HistorySize, (long)options.HistoryAge.TotalMilliseconds,
                (long)options.EmptyChannelTtl.TotalMilliseconds, publishCommand, keys.PubSub(channel),
                expected is null ? "0" : "1", expected?.Epoch ?? string.Empty, expected?.Offset ?? 0,
                (long)options.IdempotencyWindow.TotalMilliseconds]).ConfigureAwait(false))!;
        var epoch = result[1].ToString();
        var offset = (long)result[2];
        var ts = (long)result[3];
        switch (result[0].ToString())
        {
            case "d":
                return new PublishResult(epoch, offset, ts, Duplicate: true);
            case "x":
                return new PublishResult(epoch, offset, ts, Duplicate: false, Conflict: true);
            default:
                if ((long)result[4] >= options.CompactionThreshold)
                {
                    StartCompaction(channel);
                }

                return new PublishResult(epoch, offset, ts, Duplicate: false);
        }
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
