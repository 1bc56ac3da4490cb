namespace Lifeline.Server.Channels;

/// <summary>How an <see cref="InlineKeyedSet{T, TKeyOf}"/> finds an item's key.</summary>
/// <typeparam name="T">The items.</typeparam>
internal interface IKeyOf<in T>
{
    /// <summary>The key of <paramref name="item"/> (compared ordinally).</summary>
    static abstract string KeyOf(T item);
}

/// <summary>A subscription's key: its channel.</summary>
internal readonly struct ChannelOfSubscription : IKeyOf<Subscription>
{
    public static string KeyOf(Subscription item) => item.Channel;
}

/// <summary>A channel name's key: the name itself (a set of names).</summary>
internal readonly struct ChannelName : IKeyOf<string>
{
    public static string KeyOf(string item) => item;
}

/// <summary>
/// Items by a string key, in one field: nothing, the single item (most connections have one channel: no dictionary for
/// them), or a dictionary once a second key is added. Not thread-safe. A mutable struct: use it only as a field, never
/// copied.
/// </summary>
/// <typeparam name="T">The items.</typeparam>
/// <typeparam name="TKeyOf">How an item's key is found.</typeparam>
internal struct InlineKeyedSet<T, TKeyOf>
    where T : class
    where TKeyOf : IKeyOf<T>
{
    private object? _items; // null, a T, or a Dictionary<string, T>

    public readonly int Count => _items switch
    {
        null => 0,
        T => 1,
        var many => ((Dictionary<string, T>)many).Count,
    };

    public readonly bool ContainsKey(string key) => _items switch
    {
        null => false,
        T one => string.Equals(TKeyOf.KeyOf(one), key, StringComparison.Ordinal),
        var many => ((Dictionary<string, T>)many).ContainsKey(key),
    };

    /// <summary>Adds <paramref name="item"/>, or replaces the item of its key.</summary>
    public void Set(T item)
    {
        var key = TKeyOf.KeyOf(item);
        switch (_items)
        {
            case null:
                _items = item;
                break;
            case T one when string.Equals(TKeyOf.KeyOf(one), key, StringComparison.Ordinal):
                _items = item;
                break;
            case T one:
                _items = new Dictionary<string, T>(StringComparer.Ordinal) { [TKeyOf.KeyOf(one)] = one, [key] = item };
                break;
            default:
                ((Dictionary<string, T>)_items)[key] = item;
                break;
        }
    }

    public bool Remove(string key, out T? removed)
    {
        removed = null;
        switch (_items)
        {
            case null:
                return false;
            case T one:
                if (!string.Equals(TKeyOf.KeyOf(one), key, StringComparison.Ordinal))
                {
                    return false;
                }

                removed = one;
                _items = null;
                return true;
            default:
                return ((Dictionary<string, T>)_items).Remove(key, out removed);
        }
    }

    public readonly string[] Keys() => _items switch
    {
        null => [],
        T one => [TKeyOf.KeyOf(one)],
        var many => [.. ((Dictionary<string, T>)many).Keys],
    };

    /// <summary>Removes every item and returns them.</summary>
    public T[] TakeAll()
    {
        T[] all = _items switch
        {
            null => [],
            T one => [one],
            var many => [.. ((Dictionary<string, T>)many).Values],
        };
        _items = null;
        return all;
    }
}
