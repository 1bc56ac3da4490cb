namespace Lifeline.Server.Channels;

/// <summary>
/// One connection's subscriptions by channel name, in one field: nothing, the single subscription (most connections
/// subscribe to one channel: no dictionary for them), or a dictionary once a second channel is added. Not
/// thread-safe: <see cref="ConnectionSubscriptions"/> guards it. A mutable struct: use it only as a field, never copied.
/// </summary>
internal struct SubscriptionSlots
{
    private object? _items; // null, a Subscription, or a Dictionary<string, Subscription>

    public readonly int Count => _items switch
    {
        null => 0,
        Subscription => 1,
        var many => ((Dictionary<string, Subscription>)many).Count,
    };

    public readonly bool ContainsKey(string channel) => _items switch
    {
        null => false,
        Subscription one => string.Equals(one.Channel, channel, StringComparison.Ordinal),
        var many => ((Dictionary<string, Subscription>)many).ContainsKey(channel),
    };

    /// <summary>Adds or replaces the subscription of its channel.</summary>
    public void Set(Subscription subscription)
    {
        switch (_items)
        {
            case null:
                _items = subscription;
                break;
            case Subscription one when string.Equals(one.Channel, subscription.Channel, StringComparison.Ordinal):
                _items = subscription;
                break;
            case Subscription one:
                _items = new Dictionary<string, Subscription>(StringComparer.Ordinal) { [one.Channel] = one, [subscription.Channel] = subscription };
                break;
            default:
                ((Dictionary<string, Subscription>)_items)[subscription.Channel] = subscription;
                break;
        }
    }

    public bool Remove(string channel, out Subscription? removed)
    {
        removed = null;
        switch (_items)
        {
            case null:
                return false;
            case Subscription one:
                if (!string.Equals(one.Channel, channel, StringComparison.Ordinal))
                {
                    return false;
                }

                removed = one;
                _items = null;
                return true;
            default:
                return ((Dictionary<string, Subscription>)_items).Remove(channel, out removed);
        }
    }

    public readonly string[] Channels() => _items switch
    {
        null => [],
        Subscription one => [one.Channel],
        var many => [.. ((Dictionary<string, Subscription>)many).Keys],
    };

    /// <summary>Removes every subscription and returns them.</summary>
    public Subscription[] TakeAll()
    {
        Subscription[] all = _items switch
        {
            null => [],
            Subscription one => [one],
            var many => [.. ((Dictionary<string, Subscription>)many).Values],
        };
        _items = null;
        return all;
    }
}
