using System.Text;
using System.Text.Json;
using Lifeline.Protocol;
using Lifeline.Server.Tests.Infrastructure;

namespace Lifeline.Server.Tests;

/// <summary>
/// One rule set for a publish's content (issue 13): a client's <c>publish</c> and <see cref="LifelineServer.PublishAsync"/>
/// are judged by the same rules, and a refused publish changes nothing.
/// </summary>
public sealed class PublishValidationTests
{
    /// <summary>20,000 two-byte characters: 40,000 UTF-8 bytes, over the 32 KiB patch limit, though fewer characters than it.</summary>
    private static readonly string Wide = "{\"x\":\"" + new string('é', 20_000) + "\"}";

    /// <summary>An object nested 40 levels deep: over MaxJsonDepth (32) - 1.</summary>
    private static readonly string Deep = string.Concat(Enumerable.Repeat("{\"a\":", 40)) + "1" + new string('}', 40);

    public static TheoryData<string, string> Refused => new()
    {
        { Wide, ErrorCodes.LimitExceeded },
        { Deep, ErrorCodes.LimitExceeded },
        { "[1,2]", ErrorCodes.InvalidMessage },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task Server_publish_is_refused_by_the_client_rules_and_changes_nothing(string patch, string code)
    {
        await using var server = await TestServer.StartAsync();
        var error = await Assert.ThrowsAsync<LifelineRequestException>(() => server.Lifeline.PublishAsync("room", JsonDocument.Parse(patch).RootElement));
        Assert.Equal(code, error.Code);
        Assert.Equal(0, (await server.Lifeline.GetChannelAsync("room")).Offset);
    }

    [Fact]
    public async Task Client_publish_over_MaxPatchSize_in_utf8_bytes_gets_the_same_code_as_a_server_publish()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendTextAsync("{\"type\":\"publish\",\"id\":1,\"channel\":\"room\",\"patch\":" + Wide + "}");
        var reply = await client.ReceiveTypeAsync("reply");
        Assert.False(reply.GetProperty("ok").GetBoolean());
        Assert.Equal(ErrorCodes.LimitExceeded, reply.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(0, (await server.Lifeline.GetChannelAsync("room")).Offset);
        Assert.True(Encoding.UTF8.GetByteCount(Wide) > LifelineOptions.DefaultMaxPatchSize && Wide.Length < LifelineOptions.DefaultMaxPatchSize);
    }

    [Fact]
    public async Task A_patch_at_the_depth_a_client_may_send_is_accepted_from_both()
    {
        // MaxJsonDepth counts the whole client message, whose patch sits one level down: a patch of MaxJsonDepth - 1 levels fits.
        var depth = LifelineOptions.DefaultMaxJsonDepth - 1;
        var patch = string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth);
        await using var server = await TestServer.StartAsync();
        var result = await server.Lifeline.PublishAsync("room", JsonDocument.Parse(patch).RootElement);
        Assert.Equal(1, result.Offset);

        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendTextAsync("{\"type\":\"publish\",\"id\":1,\"channel\":\"room\",\"patch\":" + patch + "}");
        var reply = await client.ReceiveTypeAsync("reply");
        Assert.True(reply.GetProperty("ok").GetBoolean());
        Assert.Equal(2, reply.GetProperty("offset").GetInt64());
    }
}
