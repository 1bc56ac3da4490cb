namespace Lifeline.Client;

/// <summary>
/// How a Lifeline connection travels (PROTOCOL.md "HTTP transport"). The messages, sessions, resume, offsets and close
/// codes are the same on each; only the bytes travel differently.
/// </summary>
public enum LifelineTransport
{
    /// <summary>A WebSocket: the default and the first choice.</summary>
    WebSocket,

    /// <summary>
    /// An HTTP event stream: <c>POST {path}/stream</c> with the <c>hello</c> as body answered by Server-Sent Events, and
    /// <c>POST {path}/send</c> for the client's messages. Used where the WebSocket upgrade is refused.
    /// </summary>
    HttpStream,

    /// <summary>
    /// HTTP long polling: like <see cref="HttpStream"/>, but each response ends after one batch of messages and the client
    /// asks <c>POST {path}/poll</c> for the next. Used where a proxy buffers streamed responses.
    /// </summary>
    HttpPoll,
}
