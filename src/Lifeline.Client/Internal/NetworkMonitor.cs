using System.Net.NetworkInformation;

namespace Lifeline.Client.Internal;

/// <summary>
/// The operating system's network signals, behind a seam so tests can raise them without changing the machine's network
/// (<see cref="LifelineClientOptions.NetworkMonitor"/>).
/// </summary>
internal interface INetworkMonitor
{
    /// <summary>Starts delivering the signals to the two callbacks until the returned object is disposed.</summary>
    /// <param name="availabilityChanged">Called with true when the network became available, false when it went away.</param>
    /// <param name="addressChanged">Called when an interface's address changed (another network, a new lease, a VPN).</param>
    /// <returns>Disposing it stops the delivery.</returns>
    IDisposable Subscribe(Action<bool> availabilityChanged, Action addressChanged);
}

/// <summary><see cref="NetworkChange.NetworkAvailabilityChanged"/> and <see cref="NetworkChange.NetworkAddressChanged"/>.</summary>
internal sealed class SystemNetworkMonitor : INetworkMonitor
{
    public static SystemNetworkMonitor Instance { get; } = new();

    public IDisposable Subscribe(Action<bool> availabilityChanged, Action addressChanged)
    {
        NetworkAvailabilityChangedEventHandler onAvailability = (_, e) => availabilityChanged(e.IsAvailable);
        NetworkAddressChangedEventHandler onAddress = (_, _) => addressChanged();
        NetworkChange.NetworkAvailabilityChanged += onAvailability;
        try
        {
            NetworkChange.NetworkAddressChanged += onAddress;
        }
        catch
        {
            NetworkChange.NetworkAvailabilityChanged -= onAvailability;
            throw;
        }

        // NetworkChange's events are static: without this the client would stay reachable (and called) forever.
        return new Unsubscriber(() =>
        {
            NetworkChange.NetworkAvailabilityChanged -= onAvailability;
            NetworkChange.NetworkAddressChanged -= onAddress;
        });
    }

    private sealed class Unsubscriber(Action unsubscribe) : IDisposable
    {
        private Action? _unsubscribe = unsubscribe;

        public void Dispose() => Interlocked.Exchange(ref _unsubscribe, null)?.Invoke();
    }
}
