// One user this node has observers of: the user's pub/sub subscription and its local observers. Messages and
// disconnect orders are handed to the observers under one lock, so calls never overlap and none is made once Remove
// returned. RedisEngine.Users.cs creates, counts and stops it under its gate.
using Lifeline.Engine;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Lifeline.Redis.Internal;

/// <summary>The local observers of one user and their subscription.</summary>
internal sealed class ObservedUser(string name, ILogger logger)
{
    private readonly Lock _lock = new();
    private IUserObserver[] _observers = [];

    public string Name { get; } = name;

    public ChannelMessageQueue? Queue { get; set; }

    /// <summary>How many observers are registered.</summary>
    public int Count => Volatile.Read(ref _observers).Length;

    public void Add(IUserObserver observer)
    {
        lock (_lock)
        {
            _observers = [.. _observers, observer];
        }
    }

    /// <summary>Removes one registration; returns how many remain. Once it returns, the observer is not called again.</summary>
    public int Remove(IUserObserver observer)
    {
        lock (_lock)
        {
            var index = Array.IndexOf(_observers, observer);
            if (index >= 0)
            {
                _observers = [.. _observers.AsSpan(0, index), .. _observers.AsSpan(index + 1)];
            }

            return _observers.Length;
        }
    }

    public void Handle(ChannelMessage message)
    {
        try
        {
            switch (MessageCodec.DecodeUserPayload(Name, message.Message.ToString()))
            {
                case UserMessage m:
                    Deliver(m, static (o, m) => o.OnMessage(m), nameof(IUserObserver.OnMessage));
                    break;
                case UserDisconnect d:
                    Deliver(d, static (o, d) => o.OnDisconnect(d), nameof(IUserObserver.OnDisconnect));
                    break;
            }
        }
        catch (Exception ex)
        {
            RedisLog.UserMessageFailed(logger, Name, ex);
        }
    }

    public async Task StopAsync()
    {
        if (Queue is { } queue)
        {
            try
            {
                await queue.UnsubscribeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisConnectionException or ObjectDisposedException)
            {
                // The connection that held the subscription is gone, and the subscription with it.
            }
        }
    }

    private void Deliver<T>(T item, Action<IUserObserver, T> deliver, string callback)
    {
        lock (_lock)
        {
            foreach (var observer in _observers)
            {
                try
                {
                    deliver(observer, item);
                }
                catch (Exception ex)
                {
                    RedisLog.UserObserverFailed(logger, Name, callback, ex);
                }
            }
        }
    }
}
