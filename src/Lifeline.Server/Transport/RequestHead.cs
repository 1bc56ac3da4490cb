using System.Text;
using Microsoft.AspNetCore.Http;

namespace Lifeline.Server.Transport;

/// <summary>
/// An HTTP/1.1 request head as the lean listener parses it (RFC 9112): the request line and the header fields,
/// strictly (CRLF line ends, no obsolete line folding, no whitespace before a field's colon, no control characters).
/// </summary>
internal sealed class RequestHead
{
    private RequestHead(string method, string target, string version, HeaderDictionary headers)
    {
        Method = method;
        Target = target;
        Version = version;
        Headers = headers;
    }

    /// <summary>The method (<c>GET</c>).</summary>
    public string Method { get; }

    /// <summary>The request target as sent: the path and the query.</summary>
    public string Target { get; }

    /// <summary>The protocol version (<c>HTTP/1.1</c>).</summary>
    public string Version { get; }

    /// <summary>The header fields (a repeated field's values in order).</summary>
    public IHeaderDictionary Headers { get; }

    /// <summary>Parses a whole head (its request line, its fields and the empty line that ends it).</summary>
    /// <param name="head">The head's bytes, the final CRLF CRLF included.</param>
    /// <param name="parsed">The head, when well-formed.</param>
    /// <param name="why">What is wrong, when not.</param>
    /// <returns>True when well-formed.</returns>
    public static bool TryParse(ReadOnlySpan<byte> head, out RequestHead? parsed, out string why)
    {
        parsed = null;
        var lineEnd = head.IndexOf("\r\n"u8);
        var requestLine = head[..lineEnd];
        var firstSpace = requestLine.IndexOf((byte)' ');
        var lastSpace = requestLine.LastIndexOf((byte)' ');
        if (firstSpace <= 0 || lastSpace <= firstSpace + 1 || requestLine[(firstSpace + 1)..lastSpace].Contains((byte)' ')
            || !IsToken(requestLine[..firstSpace]) || !IsVisible(requestLine[(firstSpace + 1)..lastSpace]) || !IsVisible(requestLine[(lastSpace + 1)..]))
        {
            why = "malformed request line";
            return false;
        }

        var headers = new HeaderDictionary();
        var rest = head[(lineEnd + 2)..];
        while (true)
        {
            var end = rest.IndexOf("\r\n"u8);
            if (end < 0)
            {
                why = "malformed head";
                return false;
            }

            if (end == 0)
            {
                break; // the empty line
            }

            var line = rest[..end];
            rest = rest[(end + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]))
            {
                why = "malformed header field";
                return false;
            }

            var value = line[(colon + 1)..].Trim(" \t"u8);
            if (!IsFieldValue(value))
            {
                why = "control character in a header field";
                return false;
            }

            var name = Encoding.ASCII.GetString(line[..colon]);
            var text = Encoding.Latin1.GetString(value);
            headers[name] = headers.TryGetValue(name, out var existing) ? Microsoft.Extensions.Primitives.StringValues.Concat(existing, text) : text;
        }

        parsed = new RequestHead(
            Encoding.ASCII.GetString(requestLine[..firstSpace]),
            Encoding.ASCII.GetString(requestLine[(firstSpace + 1)..lastSpace]),
            Encoding.ASCII.GetString(requestLine[(lastSpace + 1)..]),
            headers);
        why = string.Empty;
        return true;
    }

    /// <summary>True when the comma-separated field <paramref name="name"/> lists <paramref name="token"/> (case-insensitive).</summary>
    public bool ListsToken(string name, string token)
    {
        foreach (var value in Headers[name])
        {
            foreach (var item in (value ?? string.Empty).Split(','))
            {
                if (item.Trim(' ', '\t').Equals(token, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>An RFC 9110 token (a method, a field name).</summary>
    public static bool IsToken(ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty)
        {
            return false;
        }

        foreach (var b in text)
        {
            if (!IsTokenByte(b))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>One byte of an RFC 9110 token.</summary>
    public static bool IsTokenByte(byte b) =>
        b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9')
            or (byte)'!' or (byte)'#' or (byte)'$' or (byte)'%' or (byte)'&' or (byte)'\'' or (byte)'*' or (byte)'+'
            or (byte)'-' or (byte)'.' or (byte)'^' or (byte)'_' or (byte)'`' or (byte)'|' or (byte)'~';

    private static bool IsVisible(ReadOnlySpan<byte> text)
    {
        foreach (var b in text)
        {
            if (b is <= 0x20 or >= 0x7F)
            {
                return false;
            }
        }

        return !text.IsEmpty;
    }

    private static bool IsFieldValue(ReadOnlySpan<byte> text)
    {
        foreach (var b in text)
        {
            if ((b < 0x20 && b != (byte)'\t') || b == 0x7F)
            {
                return false;
            }
        }

        return true;
    }
}
