namespace Lifeline.Bench.Net;

/// <summary>What <see cref="Protocols.BenchClient"/> needs of a connection: a <see cref="RawWebSocket"/> or an <see cref="HttpEventStream"/>.</summary>
internal interface IBenchConnection
{
    bool IsClosed { get; }

    /// <summary>Sends one text message; false when the connection is gone.</summary>
    bool SendText(ReadOnlySpan<byte> payload);

    /// <summary>Drops the connection (FIN).</summary>
    void Abort();

    /// <summary>Drops the connection with a reset where the transport allows it.</summary>
    void Reset();
}
