namespace Lifeline.Bench.Workloads;

/// <summary>
/// W1 with subscribed connections (issue 20: real clients subscribe): the same measurement as <c>w1-idle</c>, every
/// connection subscribed before anything is measured. <c>--param subscribe=shared</c> (the default: one channel for
/// all) or <c>own</c> (a channel per connection). The anchors' equivalents: SignalR joins a group through its hub
/// (<c>Groups.AddToGroupAsync</c>); the ws server adds the socket to its <c>Set</c> of the channel's sockets and the
/// channel to the socket's list. Neither keeps a history, a state or presence; Lifeline's channel does.
/// </summary>
internal sealed class W1Subscribed : W1IdleMemory
{
    public W1Subscribed()
        : base("w1-subscribed", "W1 subscribed idle memory (every connection subscribed to a channel)", "shared")
    {
    }
}
