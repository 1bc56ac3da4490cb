using System.Text.Json;
using Lifeline.Engine;
using Lifeline.Protocol;
using Lifeline.Server.Channels;
using Lifeline.Server.Connections;

namespace Lifeline.Server;

/// <summary>
/// The application's handle on this node's Lifeline server (from DI): live connection figures, publishing and reading
/// channels, events and user messages (<c>LifelineServer.Messaging.cs</c>), disconnecting users, draining.
/// </summary>
public sealed partial class LifelineServer
{
    private readonly LifelineRuntime _runtime;

    internal LifelineServer(LifelineRuntime runtime) => _runtime = runtime;

    /// <summary>Connections accepted and not yet torn down (including those still in their handshake).</summary>
    public int ConnectionCount => _runtime.Registry.Count;

    /// <summary>Connections that have deadlines in the heartbeat scheduler (equals <see cref="ConnectionCount"/> at rest; 0 when idle).</summary>
    public int ScheduledCount => _runtime.Scheduler.Count;

    /// <summary>True once shutdown began.</summary>
    public bool IsDraining => _runtime.Draining;

    /// <summary>
    /// Test switch (internal: not part of the public API; <c>lifeline serve --test-endpoints</c> and the test suites
    /// reach it): while true the server sends no pings and enforces no pong deadline, so clients can show that their
    /// receive watchdog detects a silent server.
    /// </summary>
    internal bool PingsPaused
    {
        get => _runtime.Scheduler.PingsPaused;
        set => _runtime.Scheduler.PingsPaused = value;
    }

    /// <summary>
    /// Publishes a merge patch from application code (a background job, an HTTP endpoint): the same validation as a
    /// client publish (channel name; <see cref="PublishValidator"/>: the patch is a JSON object of at most
    /// <see cref="LifelineOptions.MaxPatchSize"/> UTF-8 bytes nested at most <see cref="LifelineOptions.MaxJsonDepth"/> - 1
    /// levels, the key 1 to 128 characters; then <see cref="IChannelPolicy"/> with no user), offsets and fan-out.
    /// </summary>
    /// <remarks>
    /// With <paramref name="expected"/> the publish is conditional (compare-and-set, the <c>if</c> of a client publish):
    /// read the channel (<see cref="GetChannelAsync"/>), compute, publish with the position read, and on a conflict read
    /// again and retry. A key already applied on this channel repeats its first result whatever the position; a conflict
    /// is not remembered under its key.
    /// <para>Flow control: once the delta is applied and queued to this node's subscribers, the call returns only when
    /// the channel's fan-out backlog here is under <see cref="LifelineOptions.PublishBacklogLimit"/> for most of them (at
    /// most <see cref="LifelineOptions.PublishBacklogTimeout"/> later), so that a loop of publishes is paced by the writers.
    /// Cancelling <paramref name="cancellationToken"/> during that wait ends it without an error (the delta was applied).</para>
    /// </remarks>
    /// <param name="channel">The channel.</param>
    /// <param name="patch">The merge patch; must be a JSON object.</param>
    /// <param name="key">An idempotency key (scope <c>server</c>, per channel), or null.</param>
    /// <param name="expected">The epoch and offset the channel must be at for the patch to apply; null for an
    /// unconditional publish.</param>
    /// <param name="cancellationToken">Cancels the publish before it is applied.</param>
    /// <returns>The engine's result (epoch, offset, timestamp); never a conflict.</returns>
    /// <exception cref="LifelineRequestException">The request was refused; <see cref="LifelineRequestException.Code"/> says
    /// why. For <see cref="ErrorCodes.Conflict"/> (the channel is not at <paramref name="expected"/>; nothing was applied),
    /// <see cref="LifelineRequestException.CurrentPosition"/> is the channel's position, for a retry or an HTTP 409.</exception>
    public Task<PublishResult> PublishAsync(string channel, JsonElement patch, string? key = null, Position? expected = null, CancellationToken cancellationToken = default) =>
        PublishCoreAsync(channel, patch, expected, key, cancellationToken);

    private async Task<PublishResult> PublishCoreAsync(string channel, JsonElement patch, Position? expected, string? key, CancellationToken cancellationToken)
    {
        CheckChannel(channel);
        if (_runtime.PublishValidator.Validate(patch, key) is { } problem)
        {
            throw new LifelineRequestException(problem.Code, problem.Message);
        }

        var decision = await _runtime.ChannelPolicy.DecideAsync(new ChannelRequest(ChannelOperation.Publish, channel, null, null, patch), cancellationToken);
        if (!decision.Allowed)
        {
            throw new LifelineRequestException(decision.Code, decision.Message);
        }

        var result = await _runtime.Engine.PublishAsync(new PublishRequest(channel, patch.Clone(), key is null ? null : "server", key, expected), cancellationToken);
        if (result.Conflict)
        {
            throw new LifelineRequestException(result.Position, PublishConflict.Message(result));
        }

        // Flow control: a caller publishing in a loop must not run ahead of the writers (LifelineOptions.PublishBacklogLimit).
        await _runtime.Hub.WaitForBacklogAsync(channel, publisher: null, cancellationToken);
        return result;
    }

    /// <summary>Reads a channel's state, epoch and offset.</summary>
    /// <param name="channel">The channel.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The snapshot (an empty object at offset 0 for a channel nobody published to).</returns>
    public ValueTask<ChannelSnapshot> GetChannelAsync(string channel, CancellationToken cancellationToken = default)
    {
        CheckChannel(channel);
        return _runtime.Engine.GetSnapshotAsync(channel, cancellationToken);
    }

    /// <summary>Lists the users present in a channel.</summary>
    /// <param name="channel">The channel.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The user ids, sorted.</returns>
    public ValueTask<IReadOnlyList<string>> GetPresenceAsync(string channel, CancellationToken cancellationToken = default)
    {
        CheckChannel(channel);
        return _runtime.Engine.GetPresenceAsync(channel, cancellationToken);
    }

    private void CheckChannel(string channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        if (ChannelNames.Validate(channel, _runtime.Options.MaxChannelNameLength) is { } problem)
        {
            throw new LifelineRequestException(ErrorCodes.InvalidChannel, problem);
        }
    }

    /// <summary>
    /// Refuses new connections and closes every connection with 1001 and a <c>retry_after_ms</c> hint spread
    /// uniformly over <see cref="LifelineOptions.ShutdownRetrySpread"/>, in parallel, within
    /// <see cref="LifelineOptions.DrainTimeout"/>. Connections whose teardown has not finished by then (a close handshake
    /// or an OnDisconnected hook still running) get their transport reset, so that a close waiting on the peer ends at
    /// once; their teardown then completes on its own. Called on host stop.
    /// </summary>
    /// <returns>When every connection is gone.</returns>
    public async Task DrainAsync()
    {
        _runtime.BeginDrain();
        var spreadMs = (int)_runtime.Options.ShutdownRetrySpread.TotalMilliseconds;
        var closing = _runtime.Registry.All.Select(c =>
        {
            var hint = Random.Shared.Next(0, spreadMs + 1);
            var code = CloseCode.GoingAway.WithReason(ProtocolConstants.RetryAfterPrefix + hint.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return c.TeardownAsync(code, DisconnectInitiator.Server);
        }).ToList();
        try
        {
            await Task.WhenAll(closing).WaitAsync(_runtime.Options.DrainTimeout, _runtime.Time);
        }
        catch (TimeoutException)
        {
            // Every connection is already tearing down (StartTeardown would be a no-op): reset what is left.
            foreach (var c in _runtime.Registry.All)
            {
                c.AbortTransport();
            }
        }
    }
}
