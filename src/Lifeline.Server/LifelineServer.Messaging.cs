using System.Text.Json;
using Lifeline.Engine;
using Lifeline.Protocol;
using Lifeline.Server.Connections;

namespace Lifeline.Server;

// What is sent and never stored (issue 18; PROTOCOL.md "emit / event" and "message"): events on a channel, messages to
// one user, and disconnecting a user, each across every node through the engine.
public sealed partial class LifelineServer
{
    /// <summary>
    /// Emits an ephemeral event from application code to every subscriber of <paramref name="channel"/> on every node
    /// (PROTOCOL.md "emit / event"; the event's <c>user</c> is null). Nothing is stored: no offset, no history, no replay;
    /// best-effort per subscriber (a connection whose send queue is over half full drops it). The same checks as a
    /// client's emit, but no subscription is needed: the channel name, the data's size and depth (at most
    /// <see cref="LifelineOptions.MaxPatchSize"/> UTF-8 bytes nested at most <see cref="LifelineOptions.MaxJsonDepth"/> - 1
    /// levels), then <see cref="IChannelPolicy"/> with no user and <see cref="ChannelOperation.Emit"/>.
    /// </summary>
    /// <param name="channel">The channel.</param>
    /// <param name="data">Any JSON value (the JSON <c>null</c> included; not <c>default</c>).</param>
    /// <param name="cancellationToken">Cancels the emit before it is handed to the engine.</param>
    /// <returns>When the engine has taken the event (handed to this node's subscribers, or to the backplane).</returns>
    /// <exception cref="LifelineRequestException">The request was refused; <see cref="LifelineRequestException.Code"/> says why.</exception>
    /// <exception cref="EngineUnavailableException">The engine cannot serve now.</exception>
    public async Task EmitAsync(string channel, JsonElement data, CancellationToken cancellationToken = default)
    {
        CheckChannel(channel);
        CheckData(data);
        var decision = await _runtime.ChannelPolicy.DecideAsync(new ChannelRequest(ChannelOperation.Emit, channel, null, null, data), cancellationToken);
        if (!decision.Allowed)
        {
            throw new LifelineRequestException(decision.Code, decision.Message);
        }

        await _runtime.Engine.EmitAsync(new ChannelEvent(channel, null, data.Clone(), NowMs()), cancellationToken);
    }

    /// <summary>
    /// Sends <c>{"type":"message","data":...,"ts":...}</c> to every open connection of <paramref name="userId"/>, on every
    /// node (PROTOCOL.md "message"). Not stored, not replayed: a connection opened later never sees it. A connection
    /// whose send queue is at least three quarters full drops it (counted in <c>ws_messages_dropped_total</c>) and stays open.
    /// </summary>
    /// <param name="userId">The user.</param>
    /// <param name="data">Any JSON value (the JSON <c>null</c> included; not <c>default</c>), at most
    /// <see cref="LifelineOptions.MaxPatchSize"/> UTF-8 bytes nested at most <see cref="LifelineOptions.MaxJsonDepth"/> - 1 levels.</param>
    /// <param name="cancellationToken">Cancels the send before it is handed to the engine.</param>
    /// <returns>How many connections of the user it was sent to, across the cluster (0 when the user has none: not an error).</returns>
    /// <exception cref="LifelineRequestException">The data is refused (<c>invalid_message</c>, <c>limit_exceeded</c>).</exception>
    /// <exception cref="EngineUnavailableException">The engine cannot serve now.</exception>
    public async Task<int> SendToUserAsync(string userId, JsonElement data, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        CheckData(data);
        return await _runtime.Engine.SendToUserAsync(new UserMessage(userId, data.Clone(), NowMs()), cancellationToken);
    }

    /// <summary>
    /// Closes every connection of <paramref name="userId"/> with <paramref name="code"/>, on every node: the engine tells
    /// each node's connections of that user to tear down (initiator <see cref="DisconnectInitiator.Application"/>).
    /// </summary>
    /// <param name="userId">The user.</param>
    /// <param name="code">The close code (for example <see cref="CloseCode.PolicyViolation"/>).</param>
    /// <returns>
    /// How many connections of the user the engine reached across the cluster, once this node's have finished their
    /// teardown (the other nodes close theirs on their own).
    /// </returns>
    /// <exception cref="EngineUnavailableException">The engine cannot reach the other nodes; this node's connections of the user were closed anyway.</exception>
    public async Task<int> DisconnectUserAsync(string userId, CloseCode code)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        var local = _runtime.Registry.All.Where(c => c.UserId == userId).ToList();
        try
        {
            return await _runtime.Engine.DisconnectUserAsync(new UserDisconnect(userId, code.Code, code.Reason));
        }
        finally
        {
            // The engine's order starts these teardowns off its thread; a connection still in its hello (not observed
            // yet) is closed here too. TeardownAsync joins a teardown that already began.
            await Task.WhenAll(local.Select(c => c.TeardownAsync(code, DisconnectInitiator.Application)));
        }
    }

    private void CheckData(JsonElement data)
    {
        if (_runtime.PublishValidator.ValidateData(data) is { } problem)
        {
            throw new LifelineRequestException(problem.Code, problem.Message);
        }
    }

    private long NowMs() => _runtime.Time.GetUtcNow().ToUnixTimeMilliseconds();
}
