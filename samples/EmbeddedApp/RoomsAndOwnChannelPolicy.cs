using Lifeline.Server;

namespace Lifeline.Samples.EmbeddedApp;

/// <summary>
/// The sample's channel policy: a signed-in user may subscribe, publish, emit and read presence on any <c>room:*</c>
/// channel and on their own <c>user:{id}</c> channel, and on nothing else (<c>forbidden</c>). The application's own
/// requests (<see cref="LifelineServer.PublishAsync"/>, <see cref="LifelineServer.EmitAsync"/>: no connection) may use
/// any channel.
/// </summary>
public sealed class RoomsAndOwnChannelPolicy : IChannelPolicy
{
    /// <summary>The prefix of the shared channels.</summary>
    public const string RoomPrefix = "room:";

    /// <summary>The prefix of a user's own channel (followed by the user id).</summary>
    public const string UserPrefix = "user:";

    /// <inheritdoc />
    public ValueTask<ChannelDecision> DecideAsync(ChannelRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var allowed = request.ConnectionId is null
            || request.Channel.StartsWith(RoomPrefix, StringComparison.Ordinal)
            || (request.UserId is not null && request.Channel == UserPrefix + request.UserId);
        return ValueTask.FromResult(allowed
            ? ChannelDecision.Allow
            : ChannelDecision.Forbid($"'{request.Channel}' is not yours: use {RoomPrefix}* or {UserPrefix}{request.UserId}"));
    }
}
