namespace Lifeline.Redis.Internal;

/// <summary>
/// The Lua scripts that make each engine operation atomic. Each touches the keys of one channel only (one hash tag),
/// so it runs on one Redis Cluster shard. Time always comes from the caller (the engine's <see cref="TimeProvider"/>),
/// never from the Redis clock, so expiry decisions follow the engine's clock; Redis TTLs only collect garbage.
/// </summary>
internal static class RedisScripts
{
    // Shared Lua: create the channel's epoch when missing (a new channel, or one Redis lost), and trim the history by age.
    private const string Prelude = """
        local function ensure(meta, hist, pend, candidate, emptyTtl)
          local epoch = redis.call('HGET', meta, 'epoch')
          if epoch then return epoch end
          redis.call('DEL', hist, pend)
          redis.call('HSET', meta, 'epoch', candidate, 'offset', 0, 'ts', 0, 'so', 0, 'st', '{}')
          redis.call('PEXPIRE', meta, emptyTtl)
          return candidate
        end
        local function trim(hist, minTs)
          for _ = 1, 1000 do
            local batch = redis.call('XRANGE', hist, '-', '+', 'COUNT', 64)
            if #batch == 0 then return end
            local keep = nil
            for i = 1, #batch do
              if tonumber(batch[i][2][2]) > minTs then keep = batch[i][1]; break end
            end
            if keep then redis.call('XTRIM', hist, 'MINID', keep); return end
            local lastId = batch[#batch][1]
            local dash = string.find(lastId, '-', 1, true)
            redis.call('XTRIM', hist, 'MINID', (tonumber(string.sub(lastId, 1, dash - 1)) + 1) .. '-0')
          end
        end

        """;

    /// <summary>
    /// Publish, atomically with its idempotency key and its condition. KEYS: meta, hist, pend, and the idempotency key's
    /// hash when the publish has a key (in the channel's slot: keys are per channel). ARGV: now, epoch candidate, patch,
    /// history size, history age ms, empty TTL ms, publish command (SPUBLISH or PUBLISH), pub/sub channel, '1' when
    /// conditional else '0', expected epoch, expected offset, idempotency window ms.
    /// Returns {'p', epoch, offset, ts, pending count} when applied; {'d', epoch, offset, ts} repeating the first result
    /// of a key still within its window (whatever the position now); {'x', epoch, offset, now} for a conditional publish
    /// that found the channel at another position (nothing changed: no offset used, nothing published, the key not
    /// remembered).
    /// </summary>
    public const string Publish = Prelude + """
        local meta, hist, pend, idem = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
        local asked = tonumber(ARGV[1])
        if idem then
          local r = redis.call('HMGET', idem, 'ep', 'off', 'ts', 'exp')
          if r[1] and asked < tonumber(r[4]) then return {'d', r[1], tonumber(r[2]), tonumber(r[3])} end
        end
        local epoch = ensure(meta, hist, pend, ARGV[2], ARGV[6])
        if ARGV[9] == '1' then
          local current = tonumber(redis.call('HGET', meta, 'offset'))
          if epoch ~= ARGV[10] or current ~= tonumber(ARGV[11]) then return {'x', epoch, current, asked} end
        end
        redis.call('PERSIST', meta)
        local now = asked
        local last = tonumber(redis.call('HGET', meta, 'ts') or '0')
        if now < last then now = last end
        local offset = redis.call('HINCRBY', meta, 'offset', 1)
        redis.call('HSET', meta, 'ts', now)
        redis.call('XADD', hist, 'MAXLEN', ARGV[4], offset .. '-0', 't', now, 'p', ARGV[3])
        local pending = redis.call('RPUSH', pend, ARGV[3])
        trim(hist, now - tonumber(ARGV[5]))
        redis.call(ARGV[7], ARGV[8], 'D\n' .. epoch .. '\n' .. offset .. '\n' .. now .. '\n' .. ARGV[3])
        if idem then
          local window = tonumber(ARGV[12])
          redis.call('DEL', idem)
          redis.call('HSET', idem, 'ep', epoch, 'off', offset, 'ts', now, 'exp', now + window)
          redis.call('PEXPIRE', idem, window + now - asked)
        end
        return {'p', epoch, offset, now, pending}
        """;

    /// <summary>Where a channel is. KEYS: meta, hist, pend. ARGV: epoch candidate, empty TTL ms. Returns {epoch, offset}.</summary>
    public const string Head = Prelude + """
        local epoch = ensure(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])
        return {epoch, tonumber(redis.call('HGET', KEYS[1], 'offset'))}
        """;

    /// <summary>
    /// Recover or snapshot. KEYS: meta, hist, pend. ARGV: now, epoch candidate, history age ms, empty TTL ms,
    /// since epoch ('' for none), since offset, max offsets to read through (-1 for the current offset).
    /// Returns {epoch, offset, 'R', id1, ts1, patch1, ...} when recovered, else {epoch, offset, 'S', so, st, patch...}.
    /// </summary>
    public const string Recover = Prelude + """
        local meta, hist, pend = KEYS[1], KEYS[2], KEYS[3]
        local epoch = ensure(meta, hist, pend, ARGV[2], ARGV[4])
        local offset = tonumber(redis.call('HGET', meta, 'offset'))
        trim(hist, tonumber(ARGV[1]) - tonumber(ARGV[3]))
        local since = tonumber(ARGV[6])
        local upto = tonumber(ARGV[7])
        if upto < 0 or upto > offset then upto = offset end
        if ARGV[5] == epoch and since <= upto then
          local out = {epoch, offset, 'R'}
          if since == upto then return out end
          local entries = redis.call('XRANGE', hist, (since + 1) .. '-0', upto .. '-0')
          if #entries == upto - since and entries[1][1] == (since + 1) .. '-0' then
            for i = 1, #entries do
              out[#out + 1] = entries[i][1]
              out[#out + 1] = entries[i][2][2]
              out[#out + 1] = entries[i][2][4]
            end
            return out
          end
          if upto < offset then return {epoch, offset, 'G'} end
        end
        local out = {epoch, offset, 'S', redis.call('HGET', meta, 'so'), redis.call('HGET', meta, 'st')}
        local patches = redis.call('LRANGE', pend, 0, -1)
        for i = 1, #patches do out[#out + 1] = patches[i] end
        return out
        """;

    /// <summary>
    /// Stores a folded snapshot if nobody did meanwhile. KEYS: meta, pend. ARGV: epoch, expected snapshot offset,
    /// new snapshot offset, new state. Returns 1 when stored.
    /// </summary>
    public const string Compact = """
        local meta, pend = KEYS[1], KEYS[2]
        if redis.call('HGET', meta, 'epoch') ~= ARGV[1] then return 0 end
        local so = tonumber(redis.call('HGET', meta, 'so'))
        local expected, target = tonumber(ARGV[2]), tonumber(ARGV[3])
        if so ~= expected or target <= so or target - so > redis.call('LLEN', pend) then return 0 end
        redis.call('LTRIM', pend, target - so, -1)
        redis.call('HSET', meta, 'so', target, 'st', ARGV[4])
        return 1
        """;

    /// <summary>
    /// Adds a presence member. KEYS: members, users. ARGV: member field, user, node id, now, publish command, channel.
    /// Returns 1 when the user joined (and the join was published).
    /// </summary>
    public const string AddPresence = """
        if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then
          redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
          return 0
        end
        if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 then
          redis.call(ARGV[5], ARGV[6], 'P\njoin\n' .. ARGV[4] .. '\n\n' .. ARGV[2])
          return 1
        end
        return 0
        """;

    /// <summary>
    /// Removes a presence member. KEYS: members, users. ARGV: member field, user, reason, now, publish command, channel,
    /// node id ('' for any: only a member held by that node is removed otherwise). Returns 1 when the user left.
    /// </summary>
    public const string RemovePresence = """
        local holder = redis.call('HGET', KEYS[1], ARGV[1])
        if not holder or (ARGV[7] ~= '' and holder ~= ARGV[7]) then return 0 end
        redis.call('HDEL', KEYS[1], ARGV[1])
        if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then
          redis.call('HDEL', KEYS[2], ARGV[2])
          redis.call(ARGV[5], ARGV[6], 'P\nleave\n' .. ARGV[4] .. '\n' .. ARGV[3] .. '\n' .. ARGV[2])
          return 1
        end
        return 0
        """;

    // Shared Lua: the sum of a per-node count hash, without (and removing) the fields of the nodes named dead in ARGV
    // from index `firstDead` on (the caller's last reaper round: liveness keys live in other slots, so a script cannot
    // read them on a Redis Cluster).
    private const string LiveTotal = """
        local function live_total(key, firstDead)
          local total = 0
          local all = redis.call('HGETALL', key)
          for i = 1, #all, 2 do
            local dead = false
            for j = firstDead, #ARGV do
              if ARGV[j] == all[i] then dead = true; break end
            end
            if dead then redis.call('HDEL', key, all[i]) else total = total + tonumber(all[i + 1]) end
          end
          return total
        end

        """;

    /// <summary>
    /// A user message or disconnect order. KEYS: the user's node hash. ARGV: publish command, the user's pub/sub
    /// channel, payload, dead node ids... Publishes only when some live node registered observers of the user;
    /// returns their number.
    /// </summary>
    public const string SendToUser = LiveTotal + """
        local total = live_total(KEYS[1], 4)
        if total > 0 then redis.call(ARGV[1], ARGV[2], ARGV[3]) end
        return total
        """;

    /// <summary>
    /// Takes a connection slot. KEYS: the name's slot hash. ARGV: node id, max, dead node ids... Returns 1 when taken
    /// (this node's field incremented), 0 when live nodes hold max or more.
    /// </summary>
    public const string AcquireSlot = LiveTotal + """
        if live_total(KEYS[1], 3) >= tonumber(ARGV[2]) then return 0 end
        redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
        return 1
        """;

    /// <summary>
    /// Gives a connection slot back. KEYS: the name's slot hash. ARGV: node id. Never goes below 0 (a field at 1 or
    /// less is removed). Returns 1 when a slot was given back, 0 when the node held none.
    /// </summary>
    public const string ReleaseSlot = """
        local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
        if held <= 1 then
          redis.call('HDEL', KEYS[1], ARGV[1])
          if held <= 0 then return 0 end
          return 1
        end
        redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
        return 1
        """;

    /// <summary>
    /// Refreshes a node's liveness key. KEYS: the key. ARGV: now, TTL ms. Returns the previous value (nil when the key
    /// had expired: the other nodes may have cleaned up after this node).
    /// </summary>
    public const string Heartbeat = """
        local old = redis.call('GET', KEYS[1])
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return old
        """;
}
