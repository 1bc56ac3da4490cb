using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Lifeline.Bench.Net;

/// <summary>
/// A connection over a Server-Sent Events stream with sends as POST requests: Lifeline's HTTP transport
/// (<c>POST /ws/stream</c> with the hello as the body, then <c>POST /ws/send</c> with the <c>Lifeline-Send</c> capability
/// from the welcome) or SignalR's Server-Sent Events transport (<c>POST /hub/negotiate</c>, <c>GET /hub?id=T</c>
/// with <c>Accept: text/event-stream</c>, sends to <c>POST /hub?id=T</c>). Each <c>data:</c> event goes to the handler
/// as one text message. Sends are queued and posted one request at a time (queued ones batched into one body, as both
/// clients do); they travel over pooled keep-alive connections shared by every stream from the same source address.
/// </summary>
internal sealed class HttpEventStream : IBenchConnection
{
    private static readonly ConcurrentDictionary<string, HttpClient> Clients = new(StringComparer.Ordinal);

    private readonly HttpClient _http;
    private readonly Action<ReadOnlyMemory<byte>> _onMessage;
    private readonly Action _onClosed;
    private readonly Channel<byte[]> _outgoing = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<string> _sendTarget = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte _batchSeparator;
    private int _closed;

    private HttpEventStream(HttpClient http, byte batchSeparator, Action<ReadOnlyMemory<byte>> onMessage, Action onClosed)
    {
        _http = http;
        _batchSeparator = batchSeparator;
        _onMessage = onMessage;
        _onClosed = onClosed;
    }

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Lifeline: opens <c>POST {path}/stream</c> with <paramref name="hello"/>; the welcome's <c>send</c> is the send capability.</summary>
    public static async Task<HttpEventStream> OpenLifelineAsync(IPEndPoint server, IPAddress? local, string path, byte[] hello, Action<ReadOnlyMemory<byte>> onMessage, Action onClosed, CancellationToken cancellationToken)
    {
        var http = ClientFor(local);
        var baseUri = $"http://{server}{path}";
        var connection = new HttpEventStream(http, (byte)'\n', onMessage, onClosed);
        var request = new HttpRequestMessage(HttpMethod.Post, baseUri + "/stream") { Content = new ByteArrayContent(hello) };
        request.Content.Headers.ContentType = new("application/json");
        await connection.StartAsync(request, cancellationToken);
        _ = connection.PumpAsync(capability =>
        {
            var send = new HttpRequestMessage(HttpMethod.Post, baseUri + "/send");
            send.Headers.TryAddWithoutValidation("Lifeline-Send", capability);
            return send;
        });
        return connection;
    }

    /// <summary>SignalR: negotiates, opens the event stream, and sends <paramref name="handshake"/> as the first message.</summary>
    public static async Task<HttpEventStream> OpenSignalRAsync(IPEndPoint server, IPAddress? local, string path, byte[] handshake, Action<ReadOnlyMemory<byte>> onMessage, Action onClosed, CancellationToken cancellationToken)
    {
        var http = ClientFor(local);
        var baseUri = $"http://{server}{path}";
        using var negotiate = await http.PostAsync(baseUri + "/negotiate?negotiateVersion=1", new ByteArrayContent([]), cancellationToken);
        negotiate.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await negotiate.Content.ReadAsStringAsync(cancellationToken));
        var token = json.RootElement.GetProperty("connectionToken").GetString()!;
        var connection = new HttpEventStream(http, 0, onMessage, onClosed);
        var request = new HttpRequestMessage(HttpMethod.Get, $"{baseUri}?id={Uri.EscapeDataString(token)}");
        request.Headers.Accept.ParseAdd("text/event-stream");
        await connection.StartAsync(request, cancellationToken);
        connection._sendTarget.TrySetResult(token);
        _ = connection.PumpAsync(t => new HttpRequestMessage(HttpMethod.Post, $"{baseUri}?id={Uri.EscapeDataString(t)}"));
        connection.SendText(handshake);
        return connection;
    }

    public bool SendText(ReadOnlySpan<byte> payload) => !IsClosed && _outgoing.Writer.TryWrite(payload.ToArray());

    public void Abort() => Close();

    public void Reset() => Close();

    private static HttpClient ClientFor(IPAddress? local) => Clients.GetOrAdd(local?.ToString() ?? "", _ => new HttpClient(new SocketsHttpHandler
    {
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        ConnectCallback = async (context, ct) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                if (local is not null)
                {
                    socket.SetRawSocketOption((int)SocketOptionLevel.IP, 24 /* IP_BIND_ADDRESS_NO_PORT */, BitConverter.GetBytes(1));
                    socket.Bind(new IPEndPoint(local, 0));
                }

                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    { Timeout = Timeout.InfiniteTimeSpan });

    private async Task StartAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            response.Dispose();
            throw new IOException($"the event stream was refused with {(int)response.StatusCode}");
        }

        var stream = await response.Content.ReadAsStreamAsync(linked.Token);
        _ = ReadLoopAsync(response, stream);
    }

    private async Task ReadLoopAsync(HttpResponseMessage response, Stream stream)
    {
        try
        {
            using (response)
            using (var reader = new StreamReader(stream, Encoding.UTF8))
            {
                var data = new StringBuilder();
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    if (line.StartsWith("data:", StringComparison.Ordinal))
                    {
                        if (data.Length > 0)
                        {
                            data.Append('\n');
                        }

                        data.Append(line, line.Length > 5 && line[5] == ' ' ? 6 : 5, line.Length - (line.Length > 5 && line[5] == ' ' ? 6 : 5));
                    }
                    else if (line.Length == 0 && data.Length > 0)
                    {
                        var message = Encoding.UTF8.GetBytes(data.ToString());
                        data.Clear();
                        if (!_sendTarget.Task.IsCompleted && message.AsSpan().IndexOf("\"type\":\"welcome\""u8) >= 0)
                        {
                            using var welcome = JsonDocument.Parse(message);
                            _sendTarget.TrySetResult(welcome.RootElement.GetProperty("send").GetString()!);
                        }

                        _onMessage(message);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or HttpRequestException or ObjectDisposedException)
        {
        }
        finally
        {
            Close();
        }
    }

    private async Task PumpAsync(Func<string, HttpRequestMessage> newSend)
    {
        try
        {
            var target = await _sendTarget.Task.WaitAsync(_stop.Token);
            var reader = _outgoing.Reader;
            var batch = new MemoryStream();
            while (await reader.WaitToReadAsync(_stop.Token))
            {
                batch.SetLength(0);
                while (reader.TryRead(out var message))
                {
                    if (batch.Length > 0 && _batchSeparator != 0)
                    {
                        batch.WriteByte(_batchSeparator);
                    }

                    batch.Write(message);
                }

                using var request = newSend(target);
                request.Content = new ByteArrayContent(batch.ToArray());
                using var response = await _http.SendAsync(request, _stop.Token);
                if (!response.IsSuccessStatusCode)
                {
                    Close();
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or HttpRequestException or ObjectDisposedException)
        {
            Close();
        }
    }

    private void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        _outgoing.Writer.TryComplete();
        _stop.Cancel();
        _onClosed();
    }
}
