// Ephemeral events of one channel (PROTOCOL.md "emit / event"): emitting them, and raising the ones that arrive.
// Nothing here is stored or queued: an event is for now or never.
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Lifeline.Protocol;

namespace Lifeline.Client;

public sealed partial class LifelineChannel
{
    /// <summary>
    /// Raised once for each event another connection emitted on this channel (never for this client's own, never
    /// replayed after a reconnect), on the client's message loop. Events reach subscribers only: subscribe first.
    /// </summary>
    public event EventHandler<ChannelEventArgs>? EventReceived;

    /// <summary>
    /// Sends an ephemeral event (any JSON value: a cursor, "typing") to every other connection subscribed to this
    /// channel and waits for the server to accept it. Nothing is stored or queued: while disconnected it fails at once.
    /// Delivery is best-effort (a slow receiver drops events). The channel must be subscribed (<see cref="SubscribeAsync"/>).
    /// </summary>
    /// <param name="data">What to send; the server refuses more than its patch size limit (<c>limit_exceeded</c>).</param>
    /// <param name="cancellationToken">Stops waiting for the server's answer (the event may still be delivered).</param>
    /// <returns>When the server accepted the event.</returns>
    /// <exception cref="LifelineDisconnectedException">Not connected, or the connection was lost before the reply.</exception>
    /// <exception cref="LifelineRequestException">The server refused (<c>not_subscribed</c>, <c>forbidden</c>, <c>limit_exceeded</c>, <c>rate_limited</c>...).</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    public async Task EmitAsync(JsonElement data, CancellationToken cancellationToken = default)
    {
        _client.ThrowIfDisposed();
        if (data.ValueKind == JsonValueKind.Undefined)
        {
            throw new ArgumentException("data must be a JSON value", nameof(data));
        }

        var conn = _client.ReadyConnection ?? throw new LifelineDisconnectedException("the client is not connected: events are not queued");
        var copy = data.Clone();
        var reply = await (await _client.SendRequestAsync(conn, id => new EmitMessage(Name, copy) { Id = id }).ConfigureAwait(false))
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        LifelineClient.EnsureOk<ReplyMessage>(reply);
    }

    /// <summary>Sends an event serialized from <paramref name="data"/>; see <see cref="EmitAsync(JsonElement, CancellationToken)"/>.</summary>
    /// <typeparam name="T">The data type.</typeparam>
    /// <param name="data">What to send.</param>
    /// <param name="typeInfo">Source-generated metadata for <typeparamref name="T"/>.</param>
    /// <param name="cancellationToken">Stops waiting for the server's answer.</param>
    /// <returns>When the server accepted the event.</returns>
    public Task EmitAsync<T>(T data, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken = default) =>
        EmitAsync(JsonSerializer.SerializeToElement(data, typeInfo), cancellationToken);

    /// <summary>
    /// Fire-and-forget <see cref="EmitAsync(JsonElement, CancellationToken)"/> for high-rate signals such as cursors: the
    /// returned task never faults; a refusal or a lost connection is reported through <see cref="LifelineClient.Error"/>
    /// (code <c>emit_failed</c> or the server's code) and the log instead.
    /// </summary>
    /// <param name="data">What to send.</param>
    /// <returns>True when the server accepted the event; false when it was refused or could not be sent.</returns>
    public async Task<bool> Emit(JsonElement data)
    {
        try
        {
            await EmitAsync(data).ConfigureAwait(false);
            return true;
        }
        catch (LifelineRequestException ex)
        {
            _client.ReportEmitFailure(Name, ex.ErrorCode, ex.Message);
        }
        catch (Exception ex) when (ex is LifelineException or ArgumentException)
        {
            _client.ReportEmitFailure(Name, EmitFailed, ex.Message);
        }

        return false;
    }

    /// <summary>The error code reported when a fire-and-forget <see cref="Emit"/> could not be sent.</summary>
    public const string EmitFailed = "emit_failed";

    internal void OnEvent(EventMessage message)
    {
        lock (_sync)
        {
            if (!_subscription.IsDesired)
            {
                return;
            }
        }

        _client.Raise(EventReceived, new ChannelEventArgs(Name, message.User, message.Data, message.Ts), nameof(EventReceived), this);
    }
}
