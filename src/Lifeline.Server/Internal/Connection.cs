using System.Net;
using System.Net.WebSockets;
using Lifeline.Protocol;
using Microsoft.AspNetCore.Http;

namespace Lifeline.Server.Internal;

/// <summary>The lifecycle states of a connection; they only move forward.</summary>
internal enum ConnectionState
{
    Handshaking,
    Open,
    Closing,
    Closed,
}

/// <summary>
/// One accepted WebSocket and its state machine <c>Handshaking -> Open -> Closing -> Closed</c>.
/// Split by concern: receive loop and handshake (<c>Connection.Receive.cs</c>), message handling
/// (<c>Connection.Messages.cs</c>), send queue and writer (<c>Connection.Send.cs</c>), deadlines
/// (<c>Connection.Heartbeat.cs</c>), the one teardown path (<c>Connection.Teardown.cs</c>) and logs
/// (<c>Connection.Log.cs</c>).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Teardown, which runs exactly once on every path, disposes the token source.")]
internal sealed partial class Connection
{
    private readonly WebSocket _socket;
    private readonly HttpContext _http;
    private readonly LifelineRuntime _runtime;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closeReceived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _startedAt;
    private int _state;
    private int _holdsHandshakeSlot = 1;
    private string? _countedAddress;
    private string? _countedUser;

    public Connection(WebSocket socket, HttpContext http, LifelineRuntime runtime)
    {
        _socket = socket;
        _http = http;
        _runtime = runtime;
        Id = Ids.NewConnectionId();
        RemoteEndPoint = http.Connection.RemoteIpAddress is { } ip ? new IPEndPoint(ip, http.Connection.RemotePort) : null;
        _startedAt = runtime.Time.GetTimestamp();
        _handshakeDeadline = _startedAt + runtime.ToTimestampTicks(runtime.Options.HandshakeTimeout);
    }

    public string Id { get; }

    public IPEndPoint? RemoteEndPoint { get; }

    /// <summary>The authenticated user, known once the hello was accepted.</summary>
    public string? UserId { get; private set; }

    /// <summary>The session token, known once the hello was accepted. Never logged.</summary>
    public string? SessionToken { get; private set; }

    /// <summary>The session's public id (a hash of the token), known once the hello was accepted.</summary>
    public string? SessionId { get; private set; }

    public ConnectionState State => (ConnectionState)Volatile.Read(ref _state);

    /// <summary>Signalled when teardown begins: stops loops and fails the connection's pending operations.</summary>
    public CancellationToken Aborted => _cts.Token;

    /// <summary>Completes when teardown has finished (socket disposed, hooks run).</summary>
    public Task Closed => _closed.Task;

    private bool TryChangeState(ConnectionState from, ConnectionState to) =>
        Interlocked.CompareExchange(ref _state, (int)to, (int)from) == (int)from;

    /// <summary>Runs the connection until it is torn down. The HTTP request ends when this returns.</summary>
    public async Task RunAsync()
    {
        _runtime.Registry.Add(this);
        _runtime.Scheduler.Register(this);
        Log.Accepted(_runtime.Logger, Now(), Id, RemoteEndPoint);
        var address = _http.Connection.RemoteIpAddress?.ToString() ?? string.Empty;
        if (_runtime.Limits.TryAcquireAddress(address, _runtime.Options.MaxConnectionsPerAddress))
        {
            _countedAddress = address;
        }
        else
        {
            Log.TooManyConnections(_runtime.Logger, Now(), Id, RemoteEndPoint, "address", _runtime.Options.MaxConnectionsPerAddress);
            StartTeardown(CloseCode.PolicyViolation.WithReason("too_many_connections"), DisconnectInitiator.Server);
        }

        await ReceiveLoopAsync();
        await _closed.Task;
    }

    /// <summary>Gives the pending-handshake slot back (once): the hello was accepted, or teardown began.</summary>
    private void LeaveHandshakeSlot()
    {
        if (Interlocked.Exchange(ref _holdsHandshakeSlot, 0) == 1)
        {
            _runtime.Limits.ExitHandshake();
        }
    }

    /// <summary>Gives the per-address and per-user connection counts back (teardown, once).</summary>
    private void ReleaseConnectionCounts()
    {
        if (Interlocked.Exchange(ref _countedAddress, null) is { } address)
        {
            _runtime.Limits.ReleaseAddress(address);
        }

        if (Interlocked.Exchange(ref _countedUser, null) is { } user)
        {
            _runtime.Limits.ReleaseUser(user);
        }
    }

    private string Now() => _runtime.Time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);

    private TimeSpan Elapsed => _runtime.Time.GetElapsedTime(_startedAt);
}
