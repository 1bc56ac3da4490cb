namespace Lifeline.Client.Tests.Infrastructure;

/// <summary>Records every StateChanged event and lets a test await the next one that matches.</summary>
internal sealed class StateRecorder
{
    private readonly Lock _gate = new();
    private readonly List<StateChangedEventArgs> _events = [];
    private readonly List<(int From, Func<StateChangedEventArgs, bool> Match, TaskCompletionSource<StateChangedEventArgs> Tcs)> _waits = [];

    public StateRecorder(LifelineClient client) => client.StateChanged += OnChanged;

    public IReadOnlyList<StateChangedEventArgs> Events
    {
        get
        {
            lock (_gate)
            {
                return [.. _events];
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _events.Count;
            }
        }
    }

    /// <summary>The first event at index <paramref name="from"/> or later that matches.</summary>
    public Task<StateChangedEventArgs> WaitAsync(Func<StateChangedEventArgs, bool> match, int from = 0)
    {
        lock (_gate)
        {
            for (var i = from; i < _events.Count; i++)
            {
                if (match(_events[i]))
                {
                    return Task.FromResult(_events[i]);
                }
            }

            var tcs = new TaskCompletionSource<StateChangedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waits.Add((from, match, tcs));
            return tcs.Task.WaitAsync(TestTimeouts.Default);
        }
    }

    public Task<StateChangedEventArgs> WaitForStateAsync(ClientState state, int from = 0) => WaitAsync(e => e.NewState == state, from);

    private void OnChanged(object? sender, StateChangedEventArgs e)
    {
        lock (_gate)
        {
            _events.Add(e);
            var index = _events.Count - 1;
            for (var i = _waits.Count - 1; i >= 0; i--)
            {
                if (index >= _waits[i].From && _waits[i].Match(e))
                {
                    _waits[i].Tcs.TrySetResult(e);
                    _waits.RemoveAt(i);
                }
            }
        }
    }
}
