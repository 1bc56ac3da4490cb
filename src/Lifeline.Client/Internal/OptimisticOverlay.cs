// The publishes of one channel that the application made and the server has not yet confirmed, in the order they were
// made (issue 15, LifelineClientOptions.Optimistic). The visible state is the confirmed state with these patches applied
// in order; every server delta rebases it. An entry leaves when its publish failed (rollback), or once the confirmed
// state includes it: its delta was applied (the reply comes before the delta, so an acknowledged entry stays until then
// and the visible state never flickers back). No lock of its own: the owning channel's lock guards it.
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Protocol;

namespace Lifeline.Client.Internal;

/// <summary>Pending publishes over a channel's confirmed state; not thread-safe (the owning channel's lock guards it).</summary>
internal sealed class OptimisticOverlay
{
    private readonly List<Entry> _entries = [];
    private JsonObject? _visible;

    public bool IsEmpty => _entries.Count == 0;

    public void Add(PendingPublish publish)
    {
        _entries.Add(new Entry(publish));
        _visible = null;
    }

    public bool Contains(PendingPublish publish) => _entries.Exists(e => e.Publish == publish);

    /// <summary>The server acknowledged the publish at <paramref name="offset"/>: it stays until the confirmed state includes it.</summary>
    public void MarkAcknowledged(PendingPublish publish, long offset)
    {
        var entry = _entries.Find(e => e.Publish == publish);
        if (entry is not null)
        {
            entry.AcknowledgedOffset = offset;
        }
    }

    public void Remove(PendingPublish publish)
    {
        if (_entries.RemoveAll(e => e.Publish == publish) > 0)
        {
            _visible = null;
        }
    }

    /// <summary>
    /// The confirmed state moved: drops the acknowledged entries it now includes (all of them after a snapshot, which
    /// is the server's state after their replies).
    /// </summary>
    public void Rebase(Position? confirmed, bool snapshot)
    {
        _entries.RemoveAll(e => e.AcknowledgedOffset is { } offset && (snapshot || (confirmed is not null && confirmed.Offset >= offset)));
        _visible = null;
    }

    /// <summary>The confirmed state with every pending patch applied in order (cached until the next change); <paramref name="confirmed"/> itself when none is pending.</summary>
    public JsonObject Visible(JsonObject confirmed)
    {
        if (_entries.Count == 0)
        {
            return confirmed;
        }

        if (_visible is null)
        {
            var visible = confirmed.DeepClone().AsObject();
            foreach (var entry in _entries)
            {
                JsonMergePatch.ApplyToObject(visible, entry.Publish.Patch);
            }

            _visible = visible;
        }

        return _visible;
    }

    private sealed class Entry(PendingPublish publish)
    {
        public PendingPublish Publish { get; } = publish;

        public long? AcknowledgedOffset { get; set; }
    }
}
