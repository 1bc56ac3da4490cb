using System.Buffers;

namespace Lifeline.Client.Internal;

/// <summary>What one receive brought: a text or binary message (its bytes are in the caller's buffer), or the peer's close.</summary>
internal enum TransportReceiveKind
{
    Text,
    Binary,
    Close,
}

/// <summary>The result of <see cref="IClientTransport.ReceiveAsync"/>.</summary>
/// <param name="Kind">What arrived.</param>
/// <param name="CloseStatus">For <see cref="TransportReceiveKind.Close"/>: the close code, or null when the peer gave none.</param>
/// <param name="CloseDescription">For <see cref="TransportReceiveKind.Close"/>: the close reason, if any.</param>
internal readonly record struct TransportReceiveResult(TransportReceiveKind Kind, int? CloseStatus = null, string? CloseDescription = null);

/// <summary>
/// The bytes under one <see cref="ClientConnection"/>: a WebSocket or the HTTP transport. Everything above it (hello,
/// welcome, heartbeat, requests, resume) is the same on every transport. A failure of the transport surfaces as an
/// exception of <see cref="ReceiveAsync"/> or <see cref="SendAsync"/> (<see cref="IOException"/> and the like): the
/// connection then ends with 1006.
/// </summary>
internal interface IClientTransport : IDisposable
{
    LifelineTransport Kind { get; }

    /// <summary>
    /// True once the transport proved that the server's endpoint answers: the WebSocket upgrade succeeded, or the HTTP
    /// stream was answered with 200. Used to choose the next transport when an attempt ends before its welcome.
    /// </summary>
    bool Opened { get; }

    /// <summary>True when the WebSocket upgrade was refused with an HTTP status (the endpoint answers, the upgrade does not get through).</summary>
    bool UpgradeRefused { get; }

    /// <summary>True while a graceful close can still be started by the client.</summary>
    bool IsOpen { get; }

    /// <summary>True when the peer's close arrived and the transport must echo it (a WebSocket close frame).</summary>
    bool AwaitsCloseEcho { get; }

    /// <summary>The peer's close code once it arrived.</summary>
    int? CloseStatus { get; }

    /// <summary>Opens the transport (the WebSocket upgrade); the HTTP transport opens with the first message (the hello).</summary>
    Task ConnectAsync(CancellationToken cancellationToken);

    /// <summary>Receives one whole message into <paramref name="buffer"/>, or the peer's close. <paramref name="onData"/> runs whenever bytes arrive.</summary>
    ValueTask<TransportReceiveResult> ReceiveAsync(IBufferWriter<byte> buffer, Action onData, CancellationToken cancellationToken);

    /// <summary>Sends one message (UTF-8 JSON).</summary>
    ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken);

    /// <summary>Starts (or echoes) the close; the receive side then sees the end.</summary>
    Task CloseOutputAsync(int code, string? reason, CancellationToken cancellationToken);

    /// <summary>Ends the transport at once, without a close handshake.</summary>
    void Abort();
}
