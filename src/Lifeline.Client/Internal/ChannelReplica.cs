// The local copy of one channel's state and its position: the last snapshot with every later delta applied in offset
// order, and whether the copy is waiting for a snapshot (after a subscribe the server could not recover from our
// position). It owns _state, _position and _awaitingSnapshot and is their only writer; it decides whether a delta is
// applied, ignored as a duplicate, or reveals a gap. It has no lock of its own: LifelineChannel calls it under the
// channel's lock, together with ChannelSubscription, so one lock covers both. Client-side state work (optimistic
// changes, local updates) belongs here, not in the channel's public surface.
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Lifeline.Protocol;

namespace Lifeline.Client.Internal;

/// <summary>The local state of a channel and its position; not thread-safe (the owning channel's lock guards it).</summary>
internal sealed class ChannelReplica
{
    private JsonObject _state = [];
    private Position? _position;
    private bool _awaitingSnapshot;

    /// <summary>The confirmed state itself (not a copy): read it under the owning channel's lock, never modify it.</summary>
    public JsonObject State => _state;

    /// <summary>The epoch and offset of the last applied snapshot or delta; null before the first.</summary>
    public Position? Position => _position;

    /// <summary>
    /// The server confirmed a subscribe. Not recovered (or another epoch): a snapshot follows, and deltas until then
    /// belong to nothing we hold.
    /// </summary>
    public void OnSubscribed(SubscribedMessage subscribed) =>
        _awaitingSnapshot = !subscribed.Recovered || _position is null || _position.Epoch != subscribed.Epoch;

    /// <summary>True when the state holds a snapshot and every delta up to <paramref name="offset"/>.</summary>
    public bool IsCaughtUpTo(long offset) => !_awaitingSnapshot && _position is not null && _position.Offset >= offset;

    /// <summary>Replaces the state with a snapshot and takes its position.</summary>
    public void ReplaceWith(SnapshotMessage snapshot)
    {
        _state = JsonNode.Parse(snapshot.State.GetRawText()) as JsonObject ?? [];
        _position = new Position(snapshot.Epoch, snapshot.Offset);
        _awaitingSnapshot = false;
    }

    /// <summary>Applies <paramref name="delta"/> when it is the next one; otherwise says why not and changes nothing.</summary>
    public DeltaOutcome Apply(DeltaMessage delta)
    {
        if (_awaitingSnapshot || _position is not { } position)
        {
            return DeltaOutcome.Ignored;
        }

        if (delta.Offset <= position.Offset)
        {
            // Duplicate (for example live delivery overlapping recovery): already applied.
            return DeltaOutcome.Duplicate;
        }

        if (delta.Offset != position.Offset + 1)
        {
            return DeltaOutcome.Gap;
        }

        JsonMergePatch.ApplyToObject(_state, delta.Patch);
        _position = position with { Offset = delta.Offset };
        return DeltaOutcome.Applied;
    }

    /// <summary>Writes the state as a JSON object.</summary>
    public void WriteTo(Utf8JsonWriter writer) => _state.WriteTo(writer);

    /// <summary>Deserializes the state with source-generated metadata.</summary>
    public T? Deserialize<T>(JsonTypeInfo<T> typeInfo) => _state.Deserialize(typeInfo);
}

/// <summary>What <see cref="ChannelReplica.Apply"/> did with a delta.</summary>
internal enum DeltaOutcome
{
    /// <summary>No base to apply it to: no snapshot yet, or one is awaited.</summary>
    Ignored,

    /// <summary>At or below the current offset: already applied.</summary>
    Duplicate,

    /// <summary>Beyond the next offset: deltas are missing; the state is unchanged.</summary>
    Gap,

    /// <summary>The next delta: applied, the position advanced.</summary>
    Applied,
}
