using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

/// <summary>
/// A chaos client on the HTTP transport (PROTOCOL.md "HTTP transport"), written here because the .NET client has no
/// HTTP transport yet: the same duties as <see cref="Member"/> with the protocol done by hand. It opens
/// <c>POST {path}/stream</c> (or <c>?poll=1</c> and then <c>POST {path}/poll</c> after each batch) with a hello that
/// resumes its session, reads the Server-Sent Events, answers pings, resubscribes every channel from its position after
/// a reconnect, re-sends unanswered publishes with their keys (exactly-once effect), and checks every change as
/// <see cref="Member"/> does. A watchdog (interval + timeout + 500 ms without a message) drops a silent connection;
/// a send not answered within 2 s drops it as well. Reconnects after 100-500 ms (jittered, seeded).
/// </summary>
internal sealed class HttpMember : IAgentMember
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(2);

    private readonly Uri _base;
    private readonly bool _poll;
    private readonly Action<JsonObject> _emit;
    private readonly Random _random;
    private readonly HttpClient _http = new(new SocketsHttpHandler { ConnectTimeout = ConnectTimeout }) { Timeout = Timeout.InfiniteTimeSpan };
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ChannelView> _channels = new(StringComparer.Ordinal);
    private readonly Dictionary<long, PendingPublish> _pending = [];
    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstOpen = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private string _state = "Connecting";
    private string? _session;
    private long _nextId;
    private int _seq;
    private Task? _loop;

    public HttpMember(string user, Uri wsUrl, string[] channels, int seed, bool poll, Action<JsonObject> emit)
    {
        User = user;
        _base = new UriBuilder(wsUrl) { Scheme = wsUrl.Scheme == "wss" ? "https" : "http" }.Uri;
        _poll = poll;
        _emit = emit;
        _random = new Random(seed);
        foreach (var name in channels)
        {
            _channels[name] = new ChannelView(name);
        }
    }

    public string User { get; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(RunAsync, CancellationToken.None);
        await _firstOpen.Task.WaitAsync(cancellationToken);
        await Task.WhenAll(_channels.Values.Select(c => c.Synced.Task.WaitAsync(cancellationToken)));
    }

    public async Task<(List<JsonNode> Acked, List<JsonNode> Failed)> PublishAsync(int count, string tag, TimeSpan timeout)
    {
        var names = _channels.Keys.ToArray();
        var batch = new List<PendingPublish>();
        for (var i = 0; i < count; i++)
        {
            var seq = Interlocked.Increment(ref _seq);
            var channel = names[seq % names.Length];
            var marker = $"{User}-{tag}-{seq}";
            var patch = new JsonObject { ["last"] = marker, ["log"] = new JsonObject { [marker] = true } };
            batch.Add(new PendingPublish(Interlocked.Increment(ref _nextId), channel, marker, patch));
        }

        Connection? open;
        lock (_lock)
        {
            foreach (var p in batch)
            {
                _pending[p.Id] = p;
            }

            open = _state == "Open" ? _current : null;
        }

        if (open is not null)
        {
            _ = SendAsync(open, batch.Select(p => p.Message()));
        }

        var acked = new List<JsonNode>();
        var failed = new List<JsonNode>();
        foreach (var p in batch)
        {
            try
            {
                var offset = await p.Reply.Task.WaitAsync(timeout);
                acked.Add(new JsonObject { ["c"] = User, ["ch"] = p.Channel, ["m"] = p.Marker, ["o"] = offset });
            }
#pragma warning disable CA1031 // every failure is reported to the test
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failed.Add(new JsonObject { ["c"] = User, ["ch"] = p.Channel, ["m"] = p.Marker, ["error"] = ex.GetType().Name + ": " + ex.Message });
            }
        }

        return (acked, failed);
    }

    public JsonObject Status()
    {
        lock (_lock)
        {
            return new JsonObject
            {
                ["user"] = User,
                ["state"] = _state,
                ["pending"] = _pending.Count,
                ["transport"] = _poll ? "http-poll" : "http-stream",
                ["channels"] = new JsonArray([.. _channels.Values.Select(c => (JsonNode)c.Status())]),
            };
        }
    }

    public async ValueTask DisposeAsync()
    {
        Connection? open;
        lock (_lock)
        {
            open = _current;
        }

        if (open is { Capability: not null })
        {
            try
            {
                using var cts = new CancellationTokenSource(SendTimeout);
                await PostSendAsync(open.Capability, """{"type":"close","code":1000}""", cts.Token);
            }
#pragma warning disable CA1031 // best effort: the server tears the connection down either way
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }

        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop.ContinueWith(static _ => { }, TaskScheduler.Default);
        }

        _http.Dispose();
    }

    private Connection? _current;

    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var connection = new Connection(CancellationTokenSource.CreateLinkedTokenSource(_stop.Token));
            lock (_lock)
            {
                _current = connection;
            }

            var (code, reason) = await RunConnectionAsync(connection);
            await connection.Cts.CancelAsync();
            lock (_lock)
            {
                _current = null;
            }

            if (_stop.IsCancellationRequested)
            {
                return;
            }

            SetState("Reconnecting", reason, code);
            try
            {
                await Task.Delay(_random.Next(100, 500), _stop.Token); // the backoff
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One connection, from the stream request to its end; returns the close code and the reason.</summary>
    private async Task<(int Code, string Reason)> RunConnectionAsync(Connection connection)
    {
        var token = connection.Cts.Token;
        var hello = new JsonObject { ["type"] = "hello", ["v"] = 1, ["token"] = User, ["client"] = "lifeline-chaos-http/1.0" };
        if (_session is not null)
        {
            hello["resume"] = _session;
        }

        HttpResponseMessage response;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_base + "/stream" + (_poll ? "?poll=1" : string.Empty)))
            {
                Content = new StringContent(hello.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            connectTimeout.CancelAfter(ConnectTimeout);
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, connectTimeout.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            return (1006, "connect_failed");
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            response.Dispose();
            return (1006, $"http_{(int)response.StatusCode}");
        }

        // The watchdog: no message for interval + timeout + slack (connect timeout until the welcome) drops the connection.
        using var watchdog = new Timer(_ => connection.Watch(_clock.Elapsed), null, 100, 100);
        connection.Touch(_clock.Elapsed, ConnectTimeout);
        try
        {
            while (true)
            {
                using (response)
                {
                    var closed = await ReadEventsAsync(connection, response, token);
                    if (closed is { } close)
                    {
                        return close;
                    }
                }

                if (!_poll || connection.Capability is null)
                {
                    return (1006, connection.LostReason ?? "stream_ended");
                }

                using var poll = new HttpRequestMessage(HttpMethod.Post, new Uri(_base + "/poll")) { Content = new ByteArrayContent([]) };
                poll.Headers.TryAddWithoutValidation("Lifeline-Send", connection.Capability);
                response = await _http.SendAsync(poll, HttpCompletionOption.ResponseHeadersRead, token);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    response.Dispose();
                    return (1006, "connection_gone");
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            return (1006, connection.LostReason ?? "stream_failed");
        }
    }

    /// <summary>Reads one response's events; the close code and reason when a close event ended it.</summary>
    private async Task<(int, string)?> ReadEventsAsync(Connection connection, HttpResponseMessage response, CancellationToken token)
    {
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(token), Encoding.UTF8);
        var data = new StringBuilder();
        while (await reader.ReadLineAsync(token) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Append(line, 6, line.Length - 6);
                continue;
            }

            if (line.Length != 0 || data.Length == 0)
            {
                continue;
            }

            var message = JsonNode.Parse(data.ToString())!.AsObject();
            data.Clear();
            if (OnMessage(connection, message) is { } close)
            {
                return close;
            }
        }

        return null;
    }

    private (int, string)? OnMessage(Connection connection, JsonObject message)
    {
        connection.Touch(_clock.Elapsed, connection.Silence);
        switch ((string?)message["type"])
        {
            case "welcome":
            {
                var heartbeat = message["heartbeat"]!;
                connection.Silence = TimeSpan.FromMilliseconds((int)heartbeat["intervalMs"]! + (int)heartbeat["timeoutMs"]! + 500);
                connection.Capability = (string?)message["send"];
                var resumed = (bool?)message["resumed"] == true;
                _session = (string?)message["session"];
                // Open first: a publish made from now on is sent by PublishAsync, one made before is in the batch below (a
                // publish in both is sent twice with one key and applied once).
                SetState("Open", resumed ? "resumed" : "welcome", null);
                var messages = new List<string>();
                lock (_lock)
                {
                    foreach (var c in _channels.Values)
                    {
                        messages.Add(c.Subscribe(Interlocked.Increment(ref _nextId)));
                    }

                    messages.AddRange(_pending.Values.OrderBy(p => p.Id).Select(p => p.Message()));
                }

                _ = SendAsync(connection, messages);
                _firstOpen.TrySetResult();
                break;
            }

            case "ping":
                _ = SendAsync(connection, [new JsonObject { ["type"] = "pong", ["n"] = message["n"]!.DeepClone() }.ToJsonString()]);
                break;
            case "subscribed":
                lock (_lock)
                {
                    _channels[(string)message["channel"]!].OnSubscribed(message);
                }

                break;
            case "snapshot":
            case "delta":
                lock (_lock)
                {
                    _channels[(string)message["channel"]!].Apply(message);
                }

                break;
            case "reply":
            {
                var id = (long)message["id"]!;
                PendingPublish? p;
                lock (_lock)
                {
                    if (_pending.Remove(id, out p))
                    {
                        if ((bool?)message["ok"] == true)
                        {
                            p.Reply.TrySetResult((long)message["offset"]!);
                        }
                        else
                        {
                            p.Reply.TrySetException(new InvalidOperationException("refused: " + message["error"]?.ToJsonString()));
                        }
                    }
                }

                break;
            }

            case "presence" when message["event"] is not null:
                _emit(new JsonObject
                {
                    ["ev"] = "presence", ["user"] = User, ["channel"] = (string?)message["channel"], ["kind"] = (string?)message["event"],
                    ["who"] = (string?)message["user"], ["t"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                });
                break;
            case "close":
                return ((int)message["code"]!, (string?)message["reason"] ?? string.Empty);
        }

        return null;
    }

    /// <summary>Sends messages as one NDJSON body, one request at a time; a failed or unanswered send drops the connection.</summary>
    private async Task SendAsync(Connection connection, IEnumerable<string> messages)
    {
        var body = string.Join('\n', messages);
        if (body.Length == 0)
        {
            return;
        }

        await _sendGate.WaitAsync();
        try
        {
            if (connection.Cts.IsCancellationRequested || connection.Capability is null)
            {
                return;
            }

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(connection.Cts.Token);
            cts.CancelAfter(SendTimeout);
            var status = await PostSendAsync(connection.Capability, body, cts.Token);
            if (status != HttpStatusCode.NoContent)
            {
                connection.Drop($"send_http_{(int)status}");
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            connection.Drop("send_failed");
        }
        finally
        {
            _sendGate.Release();
        }
    }

    private async Task<HttpStatusCode> PostSendAsync(string capability, string body, CancellationToken token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_base + "/send")) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Lifeline-Send", capability);
        using var response = await _http.SendAsync(request, token);
        return response.StatusCode;
    }

    private void SetState(string next, string reason, int? code)
    {
        string old;
        lock (_lock)
        {
            old = _state;
            if (old == next)
            {
                return;
            }

            _state = next;
        }

        _emit(new JsonObject
        {
            ["ev"] = "state", ["user"] = User, ["old"] = old, ["new"] = next, ["reason"] = reason, ["code"] = code,
            ["t"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), ["transport"] = _poll ? "http-poll" : "http-stream",
        });
    }

    /// <summary>One connection attempt: its cancellation, capability and watchdog.</summary>
    private sealed class Connection(CancellationTokenSource cts)
    {
        private long _deadlineTicks;

        public CancellationTokenSource Cts { get; } = cts;

        public string? Capability { get; set; }

        public TimeSpan Silence { get; set; } = ConnectTimeout;

        public string? LostReason { get; private set; }

        public void Touch(TimeSpan now, TimeSpan silence) => Interlocked.Exchange(ref _deadlineTicks, (now + silence).Ticks);

        public void Watch(TimeSpan now)
        {
            if (now.Ticks > Interlocked.Read(ref _deadlineTicks))
            {
                Drop(Capability is null ? "connect_timeout" : "watchdog");
            }
        }

        public void Drop(string reason)
        {
            LostReason ??= reason;
            try
            {
                Cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private sealed class PendingPublish(long id, string channel, string marker, JsonObject patch)
    {
        public long Id { get; } = id;

        public string Channel { get; } = channel;

        public string Marker { get; } = marker;

        public TaskCompletionSource<long> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Message() => new JsonObject
        {
            ["type"] = "publish", ["id"] = Id, ["channel"] = Channel, ["key"] = Marker, ["patch"] = patch.DeepClone(),
        }.ToJsonString();
    }

    /// <summary>A channel as this client holds it: position, state, and the invariant checked on every change.</summary>
    private sealed class ChannelView(string name)
    {
        private readonly List<string> _violations = [];
        private string? _epoch;
        private long? _offset;
        private JsonObject _state = [];
        private int _applied;
        private int _snapshots;

        public TaskCompletionSource Synced { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Subscribe(long id)
        {
            var message = new JsonObject { ["type"] = "subscribe", ["id"] = id, ["channel"] = name };
            if (_epoch is not null && _offset is not null)
            {
                message["since"] = new JsonObject { ["epoch"] = _epoch, ["offset"] = _offset };
            }

            return message.ToJsonString();
        }

        public void OnSubscribed(JsonObject message)
        {
            if ((bool?)message["recovered"] == true && (string?)message["epoch"] == _epoch)
            {
                Synced.TrySetResult();
            }
        }

        public void Apply(JsonObject message)
        {
            var epoch = (string?)message["epoch"] ?? _epoch;
            var offset = (long)message["offset"]!;
            var snapshot = (string?)message["type"] == "snapshot";
            _applied++;
            if (snapshot)
            {
                _snapshots++;
                if (_offset is not null && epoch == _epoch && offset < _offset)
                {
                    _violations.Add($"snapshot went back {_offset} -> {offset}");
                }

                _state = message["state"]?.DeepClone().AsObject() ?? [];
            }
            else
            {
                if (_offset is null)
                {
                    _violations.Add($"first change is a delta at {offset}");
                }
                else if (offset != _offset + 1)
                {
                    _violations.Add($"delta {epoch}:{offset} after {_epoch}:{_offset}");
                }

                MergePatch(_state, message["patch"]!.AsObject());
            }

            _epoch = epoch;
            _offset = offset;
            Synced.TrySetResult();
        }

        public JsonObject Status() => new()
        {
            ["name"] = name,
            ["epoch"] = _epoch,
            ["offset"] = _offset,
            ["applied"] = _applied,
            ["snapshots"] = _snapshots,
            ["state"] = _offset is null ? null : _state.DeepClone(),
            ["violations"] = new JsonArray([.. _violations.Select(s => (JsonNode)JsonValue.Create(s))]),
        };

        /// <summary>RFC 7396 on an object target.</summary>
        private static void MergePatch(JsonObject target, JsonObject patch)
        {
            foreach (var (key, value) in patch.ToList())
            {
                if (value is null)
                {
                    target.Remove(key);
                }
                else if (value is JsonObject inner)
                {
                    if (target[key] is not JsonObject existing)
                    {
                        existing = [];
                        target[key] = existing;
                    }

                    MergePatch(existing, inner);
                }
                else
                {
                    target[key] = value.DeepClone();
                }
            }
        }
    }
}
