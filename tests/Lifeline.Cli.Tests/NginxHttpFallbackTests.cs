using System.Text.Json.Nodes;
using Lifeline.Cli.Commands;
using Lifeline.Cli.Tests.Infrastructure;
using Lifeline.Client;
using Lifeline.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Cli.Tests;

/// <summary>
/// Issue 17's proof for the .NET client: a real nginx configured as a WebSocket-hostile proxy (it does not forward
/// <c>Upgrade</c>/<c>Connection</c>, so the upgrade is refused), and one that also buffers the stream
/// (<c>proxy_buffering on</c>, ignoring <c>X-Accel-Buffering</c>). The client falls back to the stream at once,
/// subscribes, publishes, survives a node restart and ends equal to the server.
/// </summary>
/// <remarks>
/// Observed: nginx with <c>proxy_buffering on</c> still forwards each event as it arrives to a client that reads
/// (buffering there only absorbs a slow client), so the stream works and the client rightly stays on it rather than
/// falling back to long polling. The fallback to long polling for a proxy that does hold the body is proven in
/// Lifeline.Client.Tests (TransportFallbackTests, with middleware that holds every HTTP-transport body until it ends).
/// </remarks>
public sealed class NginxHttpFallbackTests
{
    private static async Task<WebApplication> StartNodeAsync(int port)
    {
        var app = ServeCommand.BuildApp(["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--auth", "dev"]).App;
        await app.StartAsync();
        return app;
    }

    /// <summary>The shipped configuration, made hostile: no upgrade headers to the node; optionally a buffered stream.</summary>
    private static string HostileConfig(int nodePort, int listenPort, bool bufferStream)
    {
        var text = NginxServer.ShippedConfig([nodePort], listenPort);
        var stripped = text.Replace("proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Upgrade \"\";", StringComparison.Ordinal)
            .Replace("proxy_set_header Connection $connection_upgrade;", "proxy_set_header Connection \"\";", StringComparison.Ordinal);
        Assert.NotEqual(text, stripped);
        if (!bufferStream)
        {
            return stripped;
        }

        const string StreamLocation = "location = /ws/stream {";
        var at = stripped.IndexOf(StreamLocation, StringComparison.Ordinal);
        Assert.True(at >= 0, "the shipped config has no stream location");
        var end = stripped.IndexOf('}', at);
        var block = stripped[at..end].Replace("proxy_buffering off;", "proxy_buffering on;\n        proxy_ignore_headers X-Accel-Buffering;", StringComparison.Ordinal);
        return stripped[..at] + block + stripped[end..];
    }

    private static async Task AssertConvergedAsync(WebApplication node, LifelineChannel channel)
    {
        var server = node.Services.GetRequiredService<LifelineServer>();
        var expected = await server.GetChannelAsync(channel.Name);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (channel.Position != new Lifeline.Protocol.Position(expected.Epoch, expected.Offset) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            expected = await server.GetChannelAsync(channel.Name);
        }

        Assert.Equal(new Lifeline.Protocol.Position(expected.Epoch, expected.Offset), channel.Position);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected.State.GetRawText()), JsonNode.Parse(channel.GetState().GetRawText())));
    }

    [Theory]
    [InlineData(false, LifelineTransport.HttpStream)]
    [InlineData(true, LifelineTransport.HttpStream)] // nginx's buffering does not hold events from a reading client
    public async Task BehindAWebSocketHostileNginx_TheClientFallsBack_Converges_AndSurvivesANodeRestart(bool bufferStream, LifelineTransport expected)
    {
        var nodePort = FreePorts.Next();
        var node = await StartNodeAsync(nodePort);
        try
        {
            var port = FreePorts.Next();
            await using var nginx = await NginxServer.StartAsync(HostileConfig(nodePort, port, bufferStream), port);
            var opened = new List<LifelineTransport>();
            await using var client = new LifelineClient(
                nginx.WsUri,
                new LifelineClientOptions
                {
                    Token = "alice",
                    ConnectTimeout = TimeSpan.FromSeconds(3),
                    ReconnectPolicy = new ExponentialBackoffRetryPolicy { BaseDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromMilliseconds(500) },
                });
            var reopened = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            client.StateChanged += (_, e) =>
            {
                if (e.NewState == ClientState.Open)
                {
                    lock (opened)
                    {
                        opened.Add(e.Transport);
                        if (opened.Count == 2)
                        {
                            reopened.TrySetResult();
                        }
                    }
                }
            };

            await client.ConnectAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(expected, client.Transport);
            var room = client.Channel("room:" + Guid.NewGuid().ToString("N"));
            await room.SubscribeAsync().WaitAsync(TimeSpan.FromSeconds(20));
            for (var i = 1; i <= 5; i++)
            {
                await room.PublishAsync(new JsonObject { ["n"] = i }).WaitAsync(TimeSpan.FromSeconds(20));
            }

            await AssertConvergedAsync(node, room);

            // The node restarts on the same port: the client reconnects over the same transport and converges again.
            await node.DisposeAsync();
            node = await StartNodeAsync(nodePort);
            await reopened.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal([expected, expected], opened);
            await room.PublishAsync(new JsonObject { ["after"] = true }).WaitAsync(TimeSpan.FromSeconds(20));
            await AssertConvergedAsync(node, room);
            Assert.True(room.GetState().GetProperty("after").GetBoolean());
        }
        finally
        {
            await node.DisposeAsync();
        }
    }
}
