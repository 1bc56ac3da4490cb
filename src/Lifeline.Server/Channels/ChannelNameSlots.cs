namespace Lifeline.Server.Channels;

/// <summary>
/// A set of channel names in one field: nothing, one name, or a hash set once a second one is added. Not
/// thread-safe. A mutable struct: use it only as a field, never copied.
/// </summary>
internal struct ChannelNameSlots
{
    private object? _items; // null, a string, or a HashSet<string>

    public readonly bool Contains(string channel) => _items switch
    {
        null => false,
        string one => string.Equals(one, channel, StringComparison.Ordinal),
        var many => ((HashSet<string>)many).Contains(channel),
    };

    /// <summary>Adds <paramref name="channel"/>; nothing happens when it is already in the set.</summary>
    public void Add(string channel)
    {
        switch (_items)
        {
            case null:
                _items = channel;
                break;
            case string one when string.Equals(one, channel, StringComparison.Ordinal):
                break;
            case string one:
                _items = new HashSet<string>(StringComparer.Ordinal) { one, channel };
                break;
            default:
                ((HashSet<string>)_items).Add(channel);
                break;
        }
    }

    public bool Remove(string channel)
    {
        switch (_items)
        {
            case null:
                return false;
            case string one:
                if (!string.Equals(one, channel, StringComparison.Ordinal))
                {
                    return false;
                }

                _items = null;
                return true;
            default:
                return ((HashSet<string>)_items).Remove(channel);
        }
    }

    /// <summary>Removes every name and returns them.</summary>
    public string[] TakeAll()
    {
        string[] all = _items switch
        {
            null => [],
            string one => [one],
            var many => [.. (HashSet<string>)many],
        };
        _items = null;
        return all;
    }
}
