using System.Diagnostics;
using System.Globalization;

namespace Lifeline.Bench.Servers;

/// <summary>
/// The w2-burst control endpoint both .NET benchmark servers map (bench/servers/ws/server.js has the same):
/// <c>POST /bench/burst?channel=C&amp;messages=M&amp;payload_bytes=P</c> publishes M payloads to channel C from the
/// server itself, one after the other as fast as the server's own API allows, each stamped when it is created; the
/// response (the loop's duration in milliseconds) is written when the loop is done.
/// </summary>
internal static class BenchBurst
{
    public const string Path = "/bench/burst";

    /// <summary>Maps the endpoint; <paramref name="publish"/> sends one payload to the channel's subscribers.</summary>
    public static void Map(WebApplication app, Func<IServiceProvider, string, string, Task> publish) =>
        app.MapPost(Path, async (HttpContext http) =>
        {
            var query = http.Request.Query;
            var channel = query["channel"].ToString();
            var messages = int.Parse(query["messages"].ToString(), CultureInfo.InvariantCulture);
            var payloadBytes = int.Parse(query["payload_bytes"].ToString(), CultureInfo.InvariantCulture);
            var started = Stopwatch.GetTimestamp();
            for (var i = 0; i < messages; i++)
            {
                await publish(http.RequestServices, channel, Payload(payloadBytes));
            }

            await http.Response.WriteAsync(Stopwatch.GetElapsedTime(started).TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture));
        });

    /// <summary>The generator's payload format (bench/Lifeline.Bench/Protocols/Payload.cs): <c>~T</c>, the 19-digit Stopwatch timestamp (CLOCK_MONOTONIC in ns), <c>:</c>, padding.</summary>
    private static string Payload(int length)
    {
        var stamp = "~T" + Stopwatch.GetTimestamp().ToString("D19", CultureInfo.InvariantCulture) + ":";
        return length > stamp.Length ? stamp + new string('x', length - stamp.Length) : stamp;
    }
}
