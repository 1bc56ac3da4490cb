using Lifeline.Client.Internal;
using Lifeline.Protocol;

namespace Lifeline.Client;

// Early retry for UpdateAsync (issue 15, fairness under contention). The server replies to a publish before it sends
// the delta the publish made (PROTOCOL.md publish), so a delta past an update's "if", received on the connection the
// update was sent on before that update's reply, proves the update lost: its reply can only be a conflict. Waiting for
// that reply would let the winner, whose next publish goes out on its own reply, win again and again. Instead the
// update is settled as a conflict at once and retries from the state the delta made; the stale publish leaves the
// queue (never resent after a reconnect) and its late conflict reply finds nothing left to settle.
public sealed partial class LifelineClient
{
    /// <summary>
    /// Called by a channel after it applied a delta received on <paramref name="conn"/> (its position is now
    /// <paramref name="position"/>): settles as a conflict every update publish to <paramref name="channel"/> that the
    /// delta proves stale. Only publishes never sent, or first sent on this connection, qualify: one sent on an earlier
    /// connection may have been applied there, its reply lost, and its own delta may be the one that just arrived.
    /// </summary>
    internal void SupersedeStaleUpdates(ClientConnection conn, string channel, Position position)
    {
        List<PendingPublish>? stale = null;
        lock (_lock)
        {
            foreach (var publish in _publishQueue)
            {
                if (publish is { SupersedeEarly: true, If: { } expected }
                    && publish.Channel == channel
                    && expected.Epoch == position.Epoch
                    && expected.Offset < position.Offset
                    && (publish.FirstSentOn is null || publish.FirstSentOn == conn))
                {
                    (stale ??= []).Add(publish);
                }
            }

            if (stale is null)
            {
                return;
            }

            foreach (var publish in stale)
            {
                _publishQueue.Remove(publish.Node!);
                publish.Node = null;
            }
        }

        foreach (var publish in stale)
        {
            Log.UpdateSuperseded(_logger, channel, publish.If!.Epoch, publish.If.Offset, position.Offset);
            publish.Completion.TrySetException(new LifelineConflictException(position, $"the channel moved to {position.Epoch}:{position.Offset} while the update expected {publish.If.Epoch}:{publish.If.Offset}"));
        }
    }
}
