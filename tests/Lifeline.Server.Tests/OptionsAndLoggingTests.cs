using System.Text.RegularExpressions;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Lifeline.Server.Tests;

/// <summary>Documented defaults agree with the constants; impossible values are refused; lifecycle lines carry their fields.</summary>
public sealed partial class OptionsAndLoggingTests
{
    [Fact]
    public void Defaults_are_the_documented_constants()
    {
        var o = new LifelineOptions();
        Assert.Equal(TimeSpan.FromSeconds(20), o.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), o.HeartbeatTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), o.HandshakeTimeout);
        Assert.Equal(64 * 1024, o.MaxMessageSize);
        Assert.Equal(TimeSpan.FromSeconds(1), o.CloseHandshakeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(120), o.ResumeWindow);
        Assert.Equal(TimeSpan.FromSeconds(5), o.PresenceGracePeriod);
        Assert.Equal(LifelineOptions.DefaultSendQueueLimit, o.SendQueueLimit);
        Assert.Equal(LifelineOptions.DefaultDrainTimeout, o.DrainTimeout);
        Assert.Equal(LifelineOptions.DefaultDisconnectedHookTimeout, o.DisconnectedHookTimeout);
        Assert.Equal(LifelineOptions.DefaultPublishBacklogLimit, o.PublishBacklogLimit);
        Assert.Equal(TimeSpan.FromSeconds(1), o.PublishBacklogTimeout);
    }

    [Fact]
    public void A_negative_publish_backlog_limit_is_refused_and_0_turns_flow_control_off()
    {
        var result = new LifelineOptionsValidator().Validate(null, new LifelineOptions { PublishBacklogLimit = -1 });
        Assert.True(result.Failed);
        Assert.Contains("PublishBacklogLimit must be at least 0 (was -1).", result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new LifelineOptionsValidator().Validate(null, new LifelineOptions { PublishBacklogLimit = 0 }).Succeeded);
    }

    [Fact]
    public void Every_summary_states_the_default_of_its_property()
    {
        // The XML docs ship next to the assembly (GenerateDocumentationFile); each documented default must match.
        var xml = File.ReadAllText(Path.ChangeExtension(typeof(LifelineOptions).Assembly.Location, ".xml"));
        var defaults = new LifelineOptions();
        foreach (var property in typeof(LifelineOptions).GetProperties().Where(p => p.PropertyType == typeof(TimeSpan) || p.PropertyType == typeof(int)))
        {
            var member = Regex.Match(xml, $"<member name=\"P:Lifeline.Server.LifelineOptions.{property.Name}\">(.*?)</member>", RegexOptions.Singleline);
            Assert.True(member.Success, $"{property.Name} is undocumented");
            var stated = Regex.Match(member.Groups[1].Value, @"The default is (\d+) ?(seconds?|KiB)?");
            Assert.True(stated.Success, $"{property.Name} does not state its default");
            var value = property.GetValue(defaults)!;
            var number = long.Parse(stated.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            object expected = stated.Groups[2].Value switch
            {
                "second" or "seconds" => TimeSpan.FromSeconds(number),
                _ => (int)number,
            };
            Assert.Equal(expected, value);
        }
    }

    [Theory]
    [InlineData(nameof(LifelineOptions.HeartbeatInterval))]
    [InlineData(nameof(LifelineOptions.HeartbeatTimeout))]
    [InlineData(nameof(LifelineOptions.HandshakeTimeout))]
    [InlineData(nameof(LifelineOptions.CloseHandshakeTimeout))]
    [InlineData(nameof(LifelineOptions.ResumeWindow))]
    [InlineData(nameof(LifelineOptions.PublishBacklogTimeout))]
    public void Zero_or_negative_durations_are_refused(string name)
    {
        foreach (var bad in new[] { TimeSpan.Zero, TimeSpan.FromSeconds(-1) })
        {
            var o = new LifelineOptions();
            typeof(LifelineOptions).GetProperty(name)!.SetValue(o, bad);
            var result = new LifelineOptionsValidator().Validate(null, o);
            Assert.True(result.Failed);
            Assert.Contains(name, result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Server_refuses_to_start_with_impossible_options()
    {
        await Assert.ThrowsAsync<OptionsValidationException>(() => TestServer.StartAsync(o => o.MaxMessageSize = 0));
    }

    [Fact]
    public async Task Lifecycle_lines_carry_a_millisecond_timestamp_connection_user_remote_code_reason_and_initiator()
    {
        await using var server = await TestServer.StartAsync(authenticator: new TokenIsUserAuthenticator());
        var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri, token: "carol");
        await client.Socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        await server.Disconnects.WaitForCountAsync(1);
        await TeardownTests.WaitUntilAsync(() => server.Logs.Named("ConnectionClosed").Any());

        var id = welcome.GetProperty("connection").GetString();
        foreach (var name in new[] { "ConnectionAccepted", "ConnectionOpened", "ConnectionClosing", "ConnectionClosed" })
        {
            var entry = Assert.Single(server.Logs.Named(name));
            Assert.Matches(TimestampPattern(), entry.State["At"]!.ToString()!);
            Assert.Equal(id, entry.State["ConnectionId"]);
            Assert.NotNull(entry.State["RemoteEndPoint"]);
        }

        var closed = Assert.Single(server.Logs.Named("ConnectionClosed"));
        Assert.Equal("carol", closed.State["UserId"]);
        Assert.Equal(1000, closed.State["CloseCode"]);
        Assert.Equal("done", closed.State["Reason"]);
        Assert.Equal(DisconnectInitiator.Client, closed.State["Initiator"]);
        await client.DisposeAsync();
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex TimestampPattern();
}
