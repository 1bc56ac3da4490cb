namespace Lifeline.Server.Transport;

/// <summary>The values of the metrics' <c>transport</c> label (and of <see cref="IConnectionTransport.Name"/>).</summary>
internal static class TransportNames
{
    /// <summary>A WebSocket connection.</summary>
    public const string WebSocket = "websocket";

    /// <summary>An HTTP connection whose server messages travel on one Server-Sent Events stream.</summary>
    public const string HttpStream = "http-stream";

    /// <summary>An HTTP connection whose server messages travel in long polls.</summary>
    public const string HttpPoll = "http-poll";

    /// <summary>Every value, in the order the metrics report them.</summary>
    public static readonly string[] All = [WebSocket, HttpStream, HttpPoll];
}
