using System.Text.Json;
using Lifeline.Protocol;

namespace Lifeline.Client.Internal;

/// <summary>A request sent on one connection and waiting for its reply.</summary>
internal sealed class PendingRequest
{
    public PendingRequest(PendingPublish? publish = null) => Publish = publish;

    /// <summary>Completed with the reply (<c>reply</c>, <c>subscribed</c> or <c>error</c>); faulted on disconnect.</summary>
    public TaskCompletionSource<ServerMessage> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>For publishes: the queue entry, which outlives the connection and is re-sent on the next one.</summary>
    public PendingPublish? Publish { get; }

    public CancellationTokenRegistration DisconnectRegistration { get; set; }
}

/// <summary>A publish waiting for the server's acknowledgement, kept across connections until it gets one.</summary>
internal sealed class PendingPublish
{
    public PendingPublish(string channel, JsonElement patch, string key)
    {
        Channel = channel;
        Patch = patch;
        Key = key;
    }

    public string Channel { get; }

    public JsonElement Patch { get; }

    /// <summary>The position the channel must be at (<c>publish.if</c>), or null for an unconditional publish.</summary>
    public Position? If { get; init; }

    /// <summary>The idempotency key, the same on every re-send: the server applies the patch once.</summary>
    public string Key { get; }

    public TaskCompletionSource<long> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// An update's publish (<see cref="LifelineChannel.UpdateAsync"/>): settled as a conflict as soon as a delta proves
    /// its <see cref="If"/> stale, without waiting for the server's reply (see LifelineClient.SupersedeStaleUpdates).
    /// </summary>
    public bool SupersedeEarly { get; init; }

    /// <summary>The connection it was last sent on (guarded by the client lock); null while only queued.</summary>
    public ClientConnection? SentOn
    {
        get;
        set
        {
            field = value;
            FirstSentOn ??= value;
        }
    }

    /// <summary>The connection it was first sent on (guarded by the client lock); null while never sent.</summary>
    public ClientConnection? FirstSentOn { get; private set; }

    /// <summary>Its node in the client's queue (guarded by the client lock); null once removed.</summary>
    public LinkedListNode<PendingPublish>? Node { get; set; }
}
