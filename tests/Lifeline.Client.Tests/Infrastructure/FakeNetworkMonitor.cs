using Lifeline.Client.Internal;

namespace Lifeline.Client.Tests.Infrastructure;

/// <summary>Network signals raised by the test: no real network change in tests.</summary>
internal sealed class FakeNetworkMonitor : INetworkMonitor
{
    private readonly Lock _gate = new();
    private readonly List<(Action<bool> Availability, Action Address)> _subscribers = [];

    public int SubscriberCount
    {
        get
        {
            lock (_gate)
            {
                return _subscribers.Count;
            }
        }
    }

    public IDisposable Subscribe(Action<bool> availabilityChanged, Action addressChanged)
    {
        var entry = (availabilityChanged, addressChanged);
        lock (_gate)
        {
            _subscribers.Add(entry);
        }

        return new Unsubscribe(() =>
        {
            lock (_gate)
            {
                _subscribers.Remove(entry);
            }
        });
    }

    public void RaiseAvailability(bool available)
    {
        foreach (var s in Snapshot())
        {
            s.Availability(available);
        }
    }

    public void RaiseAddressChanged()
    {
        foreach (var s in Snapshot())
        {
            s.Address();
        }
    }

    private List<(Action<bool> Availability, Action Address)> Snapshot()
    {
        lock (_gate)
        {
            return [.. _subscribers];
        }
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
