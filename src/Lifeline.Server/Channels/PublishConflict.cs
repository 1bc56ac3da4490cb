using Lifeline.Engine;
using Lifeline.Protocol;

namespace Lifeline.Server.Channels;

/// <summary>
/// How a conditional publish that found the channel at another position is answered, for a client (the
/// <c>conflict</c> reply of PROTOCOL.md, carrying the current epoch and offset) and for
/// <see cref="LifelineServer.PublishAsync"/>
/// (the same message in a <see cref="LifelineRequestException"/>).
/// </summary>
internal static class PublishConflict
{
    /// <summary>The human-readable part of the error.</summary>
    /// <param name="result">The engine's conflict result (the current position).</param>
    /// <returns>The message.</returns>
    public static string Message(PublishResult result) =>
        $"the channel is at another position (epoch {result.Epoch}, offset {result.Offset}); nothing was applied";

    /// <summary>The reply: <c>{"type":"reply","id":N,"ok":false,"error":{"code":"conflict","message":"...","epoch":"e1","offset":47}}</c>.</summary>
    /// <param name="id">The request id.</param>
    /// <param name="result">The engine's conflict result (the current position).</param>
    /// <returns>The reply.</returns>
    public static ReplyMessage Reply(long? id, PublishResult result) =>
        new(id, false) { Error = new ErrorInfo(ErrorCodes.Conflict, Message(result)) { Epoch = result.Epoch, Offset = result.Offset } };
}
