// How the engine talks to Redis: every command and script goes through CallAsync, which fails at once when there is
// no connection and turns a lost or timed-out connection into EngineUnavailableException, so clients get a prompt
// `unavailable` rather than a wait until the command timeout. It owns nothing but the connection it is given (which it
// never closes: RedisEngine decides that) and is shared by RedisEngine and RedisChannelStore.
using Lifeline.Engine;
using StackExchange.Redis;

namespace Lifeline.Redis.Internal;

/// <summary>Redis commands and scripts with the engine's failure rule.</summary>
internal sealed class RedisCalls(IConnectionMultiplexer redis)
{
    /// <summary>The database commands run on.</summary>
    public IDatabase Db => redis.GetDatabase();

    /// <summary>Runs a Lua script.</summary>
    public Task<RedisResult> EvalAsync(string script, RedisKey[] keys, RedisValue[] values) =>
        CallAsync(() => Db.ScriptEvaluateAsync(script, keys, values));

    /// <summary>
    /// Runs a Redis call; a lost or timed-out connection becomes <see cref="EngineUnavailableException"/>. With no
    /// connection at all it fails at once rather than queue until the command timeout, so clients get a prompt
    /// <c>unavailable</c>.
    /// </summary>
    public async Task<T> CallAsync<T>(Func<Task<T>> call)
    {
        if (!redis.IsConnected)
        {
            throw new EngineUnavailableException("Redis is unavailable: not connected");
        }

        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
        {
            throw new EngineUnavailableException("Redis is unavailable: " + ex.Message, ex);
        }
    }
}
