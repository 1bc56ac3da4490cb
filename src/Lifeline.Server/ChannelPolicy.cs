using System.Text.Json;
using Lifeline.Protocol;

namespace Lifeline.Server;

/// <summary>What a client asks to do with a channel.</summary>
public enum ChannelOperation
{
    /// <summary>Subscribe (receive state, deltas and presence).</summary>
    Subscribe,

    /// <summary>Publish a merge patch.</summary>
    Publish,

    /// <summary>List the channel's members.</summary>
    Presence,

    /// <summary>Emit an ephemeral event to the channel's other subscribers (<c>emit</c>; <see cref="LifelineServer.EmitAsync"/>).</summary>
    Emit,
}

/// <summary>The request an <see cref="IChannelPolicy"/> decides on.</summary>
/// <param name="Operation">What is asked.</param>
/// <param name="Channel">The channel name (already validated).</param>
/// <param name="UserId">The user, or null for anonymous connections.</param>
/// <param name="ConnectionId">The connection, or null for server-side publishes and emits.</param>
/// <param name="Patch">For publishes: the merge patch (a JSON object); for emits: the event's data (any JSON value); default otherwise.</param>
public sealed record ChannelRequest(ChannelOperation Operation, string Channel, string? UserId, string? ConnectionId, JsonElement Patch)
{
    /// <summary>
    /// The claims the authenticator gave the connection (<see cref="AuthenticationResult.Claims"/>, replaced by each
    /// successful refresh); null for server-side publishes and emits, and when the authenticator gave none.
    /// </summary>
    public IReadOnlyDictionary<string, JsonElement>? Claims { get; init; }
}

/// <summary>An <see cref="IChannelPolicy"/> verdict.</summary>
/// <param name="Allowed">True to let the request through.</param>
/// <param name="Code">The error code of a refusal (<see cref="ErrorCodes.Forbidden"/> by default).</param>
/// <param name="Message">The message of a refusal, shown to the client.</param>
public readonly record struct ChannelDecision(bool Allowed, string Code, string Message)
{
    /// <summary>Let the request through.</summary>
    public static ChannelDecision Allow { get; } = new(true, string.Empty, string.Empty);

    /// <summary>Refuse with <c>forbidden</c>.</summary>
    /// <param name="message">Why, shown to the client.</param>
    /// <returns>The decision.</returns>
    public static ChannelDecision Forbid(string message = "not allowed") => new(false, ErrorCodes.Forbidden, message);

    /// <summary>Refuse with another code (for example <see cref="ErrorCodes.InvalidMessage"/> from a patch validator).</summary>
    /// <param name="code">The error code.</param>
    /// <param name="message">Why, shown to the client.</param>
    /// <returns>The decision.</returns>
    public static ChannelDecision Refuse(string code, string message) => new(false, code, message);
}

/// <summary>
/// The application's authorization and validation hook for channels: decides every subscribe, publish, emit and
/// presence request before anything changes. A refusal is answered with <c>reply ok:false</c> and the decision's code.
/// Register your own implementation in DI; the default allows everything.
/// </summary>
public interface IChannelPolicy
{
    /// <summary>Decides a request.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Signalled when the connection goes away.</param>
    /// <returns>The decision.</returns>
    ValueTask<ChannelDecision> DecideAsync(ChannelRequest request, CancellationToken cancellationToken);
}

/// <summary>The default policy: everything is allowed.</summary>
public sealed class AllowAllChannelPolicy : IChannelPolicy
{
    /// <inheritdoc />
    public ValueTask<ChannelDecision> DecideAsync(ChannelRequest request, CancellationToken cancellationToken) =>
        ValueTask.FromResult(ChannelDecision.Allow);
}
