using System.Buffers;
using System.Net;
using Lifeline.Protocol;

namespace Lifeline.Server.Transport;

/// <summary>
/// The seam under a connection: how its bytes travel. Everything above it (state, heartbeat, dispatch, channels,
/// teardown) sees whole client messages in and frames of line-feed separated server messages out, and never learns
/// whether they travel in WebSocket frames, an HTTP stream or long polls: <see cref="WebSocketTransport"/> (behind
/// <c>MapLifeline</c> or the lean listener) and <see cref="HttpTransport"/>.
/// </summary>
/// <remarks>
/// Threading: exactly one reader (the connection's receive loop) calls <see cref="ReceiveAsync"/>, one writer at a
/// time (the <see cref="SendQueue"/>'s writer) calls <see cref="SendAsync"/>; <see cref="CloseAsync"/> is called once,
/// by teardown, and may overlap both; <see cref="Abort"/> may be called from any thread at any time.
/// </remarks>
internal interface IConnectionTransport
{
    /// <summary>The peer's address, when the transport knows it.</summary>
    IPEndPoint? RemoteEndPoint { get; }

    /// <summary>
    /// The HTTP request the message being handled came with, for the authenticator (the hello, a <c>refresh</c>): the
    /// request that opened the connection (the WebSocket upgrade, the HTTP stream); over long polling the <c>send</c>
    /// request that carries the message (the opening request is gone by then); on the lean listener a request rebuilt
    /// from the upgrade's head, until the welcome, then one with only the path and the addresses
    /// (<see cref="LeanWebSocketTransport"/>).
    /// </summary>
    Microsoft.AspNetCore.Http.HttpContext Request { get; }

    /// <summary>The <c>transport</c> label of the metrics: <c>websocket</c>, <c>http-stream</c> or <c>http-poll</c>.</summary>
    string Name { get; }

    /// <summary>
    /// The welcome as this transport sends it: the HTTP transport adds <c>transport</c> and its send capability;
    /// the WebSocket transport returns it unchanged. Called once, when the hello was accepted: a transport may let go
    /// of what it kept for the hello's authenticator.
    /// </summary>
    /// <param name="welcome">The welcome the handshake built.</param>
    /// <returns>The welcome to send.</returns>
    WelcomeMessage Announce(WelcomeMessage welcome);

    /// <summary>
    /// Receives one whole client message. An idle transport holds no buffer while it waits. Never throws: a failed or
    /// ended transport is reported as <see cref="TransportMessageKind.Ended"/>.
    /// </summary>
    /// <param name="maxMessageSize">Messages larger than this are reported as <see cref="TransportMessageKind.TooBig"/>, unbuffered.</param>
    /// <returns>The message; the caller disposes it (returns its pooled buffer).</returns>
    ValueTask<TransportMessage> ReceiveAsync(int maxMessageSize);

    /// <summary>Sends one frame: one or more serialized server messages separated by line feeds.</summary>
    /// <param name="frame">The frame's bytes.</param>
    /// <returns>When the frame was handed to the network; throws when the transport failed.</returns>
    ValueTask SendAsync(ReadOnlyMemory<byte> frame);

    /// <summary>
    /// Ends the transport: sends <paramref name="code"/> (unless it is <see cref="CloseCode.Abnormal"/>) and waits up to
    /// <paramref name="bound"/> for the peer to answer, then aborts whatever is left with a reset. Releases every
    /// resource on every path: nothing lingers in CLOSE_WAIT.
    /// </summary>
    /// <param name="code">The close code and reason.</param>
    /// <param name="bound">How long the peer has to complete the close handshake.</param>
    /// <returns>True when the transport had to be reset (no clean close).</returns>
    Task<bool> CloseAsync(CloseCode code, TimeSpan bound);

    /// <summary>
    /// Resets the underlying connection the way a network failure would, without a close: a pending receive ends with
    /// <see cref="TransportMessageKind.Ended"/> and a pending send fails. Used by the drain's fallback, and by tests to
    /// simulate a network failure.
    /// </summary>
    void Abort();
}

/// <summary>What <see cref="IConnectionTransport.ReceiveAsync"/> produced.</summary>
internal enum TransportMessageKind
{
    /// <summary>A text message (UTF-8 JSON).</summary>
    Text,

    /// <summary>A binary message: not part of the protocol (1003).</summary>
    Binary,

    /// <summary>A message over the size limit (1009); its bytes were discarded.</summary>
    TooBig,

    /// <summary>The peer closed; <see cref="TransportMessage.Close"/> says with what.</summary>
    Close,

    /// <summary>The transport's own framing refused the peer's input and already told the peer (1007).</summary>
    Rejected,

    /// <summary>The transport failed or ended without a close (reset, end of stream, our own abort): 1006.</summary>
    Ended,
}

/// <summary>
/// One received message; dispose it to give its pooled buffer back. Kept small on purpose: an idle connection holds
/// a few copies of it in the state of its suspended receive (the awaiter and the builder's result), so every byte
/// here costs per connection.
/// </summary>
/// <param name="Kind">What was received.</param>
/// <param name="Buffer">The pooled buffer holding a text message (empty otherwise).</param>
/// <param name="Count">How many bytes of <paramref name="Buffer"/> the message holds.</param>
/// <param name="Detail">For <see cref="TransportMessageKind.Close"/>: the peer's <see cref="CloseCode"/> (boxed); for
/// <see cref="TransportMessageKind.Ended"/> and <see cref="TransportMessageKind.Rejected"/>: the exception, when known.</param>
internal readonly record struct TransportMessage(TransportMessageKind Kind, byte[] Buffer, int Count, object? Detail = null) : IDisposable
{
    /// <summary>The message's bytes.</summary>
    public ReadOnlyMemory<byte> Payload => Buffer.AsMemory(0, Count);

    /// <summary>For <see cref="TransportMessageKind.Close"/>: the peer's code and reason.</summary>
    public CloseCode? Close => Detail is CloseCode code ? code : null;

    /// <summary>For <see cref="TransportMessageKind.Ended"/> and <see cref="TransportMessageKind.Rejected"/>: why, when known.</summary>
    public Exception? Error => Detail as Exception;

    /// <summary>A message without payload.</summary>
    public static TransportMessage Of(TransportMessageKind kind, object? detail = null) => new(kind, [], 0, detail);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
        }
    }
}
