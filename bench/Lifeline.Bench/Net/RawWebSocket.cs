using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lifeline.Bench.Net;

/// <summary>What a <see cref="RawWebSocket"/> hands received data to.</summary>
internal interface IFrameHandler
{
    /// <summary>A complete text message (fragments already joined). The span is only valid during the call.</summary>
    void OnText(RawWebSocket socket, ReadOnlySpan<byte> payload);

    /// <summary>The connection ended (close frame, reset, abort); called once.</summary>
    void OnClosed(RawWebSocket socket);
}

/// <summary>
/// A minimal RFC 6455 client for load generation: HTTP upgrade, masked text frames out, control pings answered with
/// pongs, close frames echoed. Idle connections hold no receive buffer (zero-byte reads) and no task besides their
/// pending receive, so one process can keep 100,000 of them.
/// </summary>
internal sealed class RawWebSocket : IBenchConnection
{
    private const int BufferSize = 16 * 1024;
    private const int IpBindAddressNoPort = 24; // Linux: pick the source port at connect time (4-tuple), not at bind

    private readonly Socket _socket;
    private readonly IFrameHandler _handler;
    private readonly Lock _sendLock = new();
    private readonly uint _mask;
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private byte[]? _message; // text fragments being joined
    private int _messageLength;
    private int _closed;

    private RawWebSocket(Socket socket, IFrameHandler handler)
    {
        _socket = socket;
        _handler = handler;
        _mask = (uint)Random.Shared.Next(1, int.MaxValue);
    }

    /// <summary>
    /// Creates the client sockets of the current async flow when set (e.g. inside another network namespace); a plain
    /// <see cref="Socket"/> otherwise.
    /// </summary>
    public static AsyncLocal<Func<Socket>?> SocketFactory { get; } = new();

    /// <summary>Status code of the close frame the server sent; 0 when none came.</summary>
    public int CloseStatus { get; private set; }

    /// <summary>Reason of the close frame the server sent; empty when none came.</summary>
    public string CloseReason { get; private set; } = "";

    /// <summary>True once the connection has ended.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Connects from <paramref name="local"/> (any port), upgrades at <paramref name="path"/>, and starts receiving.</summary>
    public static async Task<RawWebSocket> ConnectAsync(IPEndPoint server, IPAddress? local, string path, IFrameHandler handler, CancellationToken cancellationToken)
    {
        var socket = SocketFactory.Value?.Invoke() ?? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.NoDelay = true;
        try
        {
            if (local is not null)
            {
                socket.SetRawSocketOption((int)SocketOptionLevel.IP, IpBindAddressNoPort, BitConverter.GetBytes(1));
                socket.Bind(new IPEndPoint(local, 0));
            }

            await socket.ConnectAsync(server, cancellationToken);
            var request = Encoding.ASCII.GetBytes(
                $"GET {path} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
            await socket.SendAsync(request, SocketFlags.None, cancellationToken);

            var ws = new RawWebSocket(socket, handler);
            await ws.ReadUpgradeResponseAsync(cancellationToken);
            _ = ws.ReceiveLoopAsync();
            return ws;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends one masked text frame. Thread-safe; returns false when the connection is gone.</summary>
    public bool SendText(ReadOnlySpan<byte> payload) => SendFrame(0x1, payload);

    /// <summary>Closes the socket without a close frame (TCP FIN): a client that vanished.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _socket.Dispose();
        }
    }

    /// <summary>Closes the socket with a TCP reset (SO_LINGER 0).</summary>
    public void Reset()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            try
            {
                _socket.LingerState = new LingerOption(true, 0);
            }
            catch (SocketException)
            {
            }

            _socket.Dispose();
        }
    }

    private async Task ReadUpgradeResponseAsync(CancellationToken cancellationToken)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        while (true)
        {
            if (_end == _buffer.Length)
            {
                throw new IOException("upgrade response too long");
            }

            var n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                throw new IOException("connection closed during the upgrade");
            }

            _end += n;
            var headerEnd = _buffer.AsSpan(0, _end).IndexOf("\r\n\r\n"u8);
            if (headerEnd < 0)
            {
                continue;
            }

            if (!_buffer.AsSpan().StartsWith("HTTP/1.1 101"u8))
            {
                var status = Encoding.ASCII.GetString(_buffer, 0, Math.Min(headerEnd, 200));
                throw new IOException("upgrade refused: " + status.Split('\r')[0]);
            }

            _start = headerEnd + 4;
            return;
        }
    }

    private async Task ReceiveLoopAsync()
    {
        try
        {
            while (!IsClosed)
            {
                if (_start == _end)
                {
                    // Nothing buffered: give the buffer back and wait for data without holding one.
                    ReturnBuffer();
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                }

                _buffer ??= ArrayPool<byte>.Shared.Rent(BufferSize);
                if (_end == _buffer.Length)
                {
                    MakeRoom(_buffer.Length);
                }

                var n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None);
                if (n == 0)
                {
                    break;
                }

                _end += n;
                ProcessFrames();
            }
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            Abort();
            ReturnBuffer();
            _handler.OnClosed(this);
        }
    }

    private void ProcessFrames()
    {
        while (_end - _start >= 2 && !IsClosed)
        {
            var span = _buffer.AsSpan(_start, _end - _start);
            var fin = (span[0] & 0x80) != 0;
            var opcode = span[0] & 0x0F;
            var masked = (span[1] & 0x80) != 0;
            long length = span[1] & 0x7F;
            var header = 2;
            if (length == 126)
            {
                if (span.Length < 4)
                {
                    break;
                }

                length = BinaryPrimitives.ReadUInt16BigEndian(span[2..]);
                header = 4;
            }
            else if (length == 127)
            {
                if (span.Length < 10)
                {
                    break;
                }

                length = (long)BinaryPrimitives.ReadUInt64BigEndian(span[2..]);
                header = 10;
            }

            var maskOffset = header;
            if (masked)
            {
                header += 4;
            }

            var total = header + length;
            if (total > 64L * 1024 * 1024)
            {
                throw new IOException("frame too large");
            }

            if (span.Length < total)
            {
                if (total > _buffer!.Length)
                {
                    MakeRoom((int)total);
                }

                break;
            }

            var payload = _buffer.AsSpan(_start + header, (int)length);
            if (masked)
            {
                Unmask(payload, BinaryPrimitives.ReadUInt32BigEndian(span[maskOffset..]));
            }

            _start += (int)total;
            HandleFrame(fin, opcode, payload);
        }

        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    private void HandleFrame(bool fin, int opcode, Span<byte> payload)
    {
        switch (opcode)
        {
            case 0x1 when fin && _message is null:
                _handler.OnText(this, payload);
                break;
            case 0x1:
            case 0x0:
                AppendFragment(payload);
                if (fin)
                {
                    var message = _message!;
                    var length = _messageLength;
                    _message = null;
                    _messageLength = 0;
                    _handler.OnText(this, message.AsSpan(0, length));
                    ArrayPool<byte>.Shared.Return(message);
                }

                break;
            case 0x9: // ping: answer with the same payload
                SendFrame(0xA, payload);
                break;
            case 0x8: // close: echo the status code, then drop the socket
                CloseStatus = payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload) : 1005;
                CloseReason = payload.Length > 2 ? Encoding.UTF8.GetString(payload[2..]) : "";
                SendFrame(0x8, payload.Length >= 2 ? payload[..2] : []);
                Abort();
                break;
            default: // pong, binary: not used by the benchmark servers
                break;
        }
    }

    private void AppendFragment(ReadOnlySpan<byte> payload)
    {
        _message ??= ArrayPool<byte>.Shared.Rent(Math.Max(BufferSize, payload.Length));
        if (_messageLength + payload.Length > _message.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent((_messageLength + payload.Length) * 2);
            _message.AsSpan(0, _messageLength).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_message);
            _message = bigger;
        }

        payload.CopyTo(_message.AsSpan(_messageLength));
        _messageLength += payload.Length;
    }

    private void MakeRoom(int needed)
    {
        var remaining = _end - _start;
        var target = _buffer!;
        if (needed > _buffer!.Length)
        {
            target = ArrayPool<byte>.Shared.Rent(needed);
        }

        _buffer.AsSpan(_start, remaining).CopyTo(target);
        if (!ReferenceEquals(target, _buffer))
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = target;
        }

        _start = 0;
        _end = remaining;
    }

    private void ReturnBuffer()
    {
        if (_buffer is { } buffer && _start == _end)
        {
            _buffer = null;
            _start = _end = 0;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private bool SendFrame(int opcode, ReadOnlySpan<byte> payload)
    {
        if (IsClosed && opcode != 0x8)
        {
            return false;
        }

        var length = payload.Length;
        var header = length < 126 ? 2 : length <= ushort.MaxValue ? 4 : 10;
        var total = header + 4 + length;
        var rented = total > 512 ? ArrayPool<byte>.Shared.Rent(total) : null;
        var frame = rented is null ? stackalloc byte[total] : rented.AsSpan(0, total);
        frame[0] = (byte)(0x80 | opcode);
        if (header == 2)
        {
            frame[1] = (byte)(0x80 | length);
        }
        else if (header == 4)
        {
            frame[1] = 0x80 | 126;
            BinaryPrimitives.WriteUInt16BigEndian(frame[2..], (ushort)length);
        }
        else
        {
            frame[1] = 0x80 | 127;
            BinaryPrimitives.WriteUInt64BigEndian(frame[2..], (ulong)length);
        }

        BinaryPrimitives.WriteUInt32BigEndian(frame[header..], _mask);
        var body = frame[(header + 4)..];
        payload.CopyTo(body);
        Unmask(body, _mask);
        try
        {
            lock (_sendLock)
            {
                while (!frame.IsEmpty)
                {
                    frame = frame[_socket.Send(frame, SocketFlags.None)..];
                }
            }

            return true;
        }
        catch (SocketException)
        {
            Abort();
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static void Unmask(Span<byte> data, uint mask)
    {
        Span<byte> key = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(key, mask);
        for (var i = 0; i < data.Length; i++)
        {
            data[i] ^= key[i & 3];
        }
    }
}
