namespace Lifeline.Client;

// Optimistic state (issue 15): the client's side. The queue order is the channel overlay's order, so a publish joins the
// overlay under the client's lock (client lock, then channel lock: nothing takes them the other way round).
public sealed partial class LifelineClient
{
    /// <summary>How many publishes to <paramref name="channel"/> wait for the server's acknowledgement.</summary>
    internal int CountPendingPublishes(string channel)
    {
        lock (_lock)
        {
            var count = 0;
            foreach (var publish in _publishQueue)
            {
                if (publish.Channel == channel)
                {
                    count++;
                }
            }

            return count;
        }
    }
}
