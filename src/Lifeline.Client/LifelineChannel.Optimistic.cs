// Optimistic state (issue 15, LifelineClientOptions.Optimistic): the application's own publishes show in GetState() at
// once, queued or in flight, and a refused one rolls back. The confirmed state (ChannelReplica) stays the server's;
// OptimisticOverlay holds the pending patches on top of it. Changed fires when the visible state changes, once per
// change: for an optimistic publish, for a rollback, and for a server delta or snapshot that changes what is visible
// (one that only confirms a pending publish changes nothing visible and raises nothing).
using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Client.Internal;
using Lifeline.Protocol;

namespace Lifeline.Client;

public sealed partial class LifelineChannel
{
    private readonly OptimisticOverlay _overlay = new();

    /// <summary>
    /// How many of this channel's publishes wait for the server's acknowledgement (queued while disconnected, or in
    /// flight). With <see cref="LifelineClientOptions.Optimistic"/> they are the ones shown in <see cref="GetState()"/>
    /// and not in <see cref="GetConfirmedState"/> (an acknowledged publish whose delta has not arrived yet is no longer
    /// counted, and still shown).
    /// </summary>
    public int PendingCount => _client.CountPendingPublishes(Name);

    /// <summary>
    /// Returns a snapshot of the confirmed state: the server's state at <see cref="Position"/>, without the pending
    /// publishes that <see cref="GetState()"/> shows when <see cref="LifelineClientOptions.Optimistic"/> is on (without
    /// it, the two are the same).
    /// </summary>
    /// <returns>An immutable copy, safe to keep and read from any thread.</returns>
    public JsonElement GetConfirmedState()
    {
        var buffer = new ArrayBufferWriter<byte>();
        lock (_sync)
        {
            using var writer = new Utf8JsonWriter(buffer);
            _replica.WriteTo(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }

    /// <summary>The state GetState shows: the confirmed state, with the pending publishes applied in order when optimistic. Under the lock.</summary>
    private JsonObject VisibleState() => _overlay.Visible(_replica.State);

    /// <summary>Under the lock, before the confirmed state changes: a copy-safe reference to the visible state when publishes are pending, else null.</summary>
    private JsonObject? VisibleBeforeRebase() => _overlay.IsEmpty ? null : _overlay.Visible(_replica.State);

    /// <summary>Under the lock, after the confirmed state changed: drops what it now includes; true when the visible state changed.</summary>
    private bool Rebase(JsonObject? visibleBefore, bool snapshot)
    {
        if (visibleBefore is null)
        {
            return true; // nothing pending: every confirmed change is a visible one, as without Optimistic
        }

        _overlay.Rebase(_replica.Position, snapshot);
        return !JsonNode.DeepEquals(visibleBefore, VisibleState());
    }

    /// <summary>
    /// Called by the client, under its lock (so the overlay keeps the queue's order), when a publish on this channel was
    /// queued with <see cref="LifelineClientOptions.Optimistic"/> on. Returns the Changed event to raise once the locks
    /// are released, or null when the visible state did not change.
    /// </summary>
    internal ChannelChangedEventArgs? AddOptimistic(PendingPublish publish)
    {
        ChannelChangedEventArgs? args = null;
        lock (_sync)
        {
            // The overlay never modifies a visible state it handed out: it builds a new one after each change.
            var before = VisibleState();
            _overlay.Add(publish);
            if (!JsonNode.DeepEquals(before, VisibleState()))
            {
                args = LocalChange(publish.Patch, ChannelChangeKind.Optimistic);
            }
        }

        return args;
    }

    internal void RaiseChanged(ChannelChangedEventArgs args) => _client.Raise(Changed, args, nameof(Changed), this);

    /// <summary>
    /// The publish got its answer: acknowledged (kept until its delta is in), or refused, cancelled or failed (rolled
    /// back). Called by the client's PublishAsync before its caller sees the outcome.
    /// </summary>
    internal void OnOptimisticSettled(PendingPublish publish, Task<long> completion)
    {
        ChannelChangedEventArgs? args = null;
        lock (_sync)
        {
            if (!_overlay.Contains(publish))
            {
                return;
            }

            var before = VisibleState();
            var acknowledged = completion.IsCompletedSuccessfully;
            if (acknowledged && completion.Result >= 0 && _subscription.IsDesired && !(_replica.Position is { } p && p.Offset >= completion.Result))
            {
                // The reply comes before the delta: keep showing it until the confirmed state includes it.
                _overlay.MarkAcknowledged(publish, completion.Result);
                return;
            }

            _overlay.Remove(publish);
            if (!JsonNode.DeepEquals(before, VisibleState()))
            {
                args = LocalChange(null, acknowledged ? ChannelChangeKind.Optimistic : ChannelChangeKind.Rollback);
            }
        }

        if (args is not null)
        {
            RaiseChanged(args);
        }
    }

    private ChannelChangedEventArgs LocalChange(JsonElement? patch, ChannelChangeKind kind)
    {
        var position = _replica.Position;
        return new ChannelChangedEventArgs(Name, position?.Epoch ?? string.Empty, position?.Offset ?? 0, isSnapshot: false, patch, null) { Kind = kind };
    }
}
