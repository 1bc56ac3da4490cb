using Lifeline.Cli.Serve;
using Lifeline.Server;
using Microsoft.AspNetCore.Http;

namespace Lifeline.Cli.Tests;

/// <summary><c>lifeline serve --auth dev</c>: the token is the user id, within the bounds of <see cref="AuthenticationResult.MaxUserIdLength"/>.</summary>
public class DevTokenAuthenticatorTests
{
    [Theory]
    [InlineData(null, true, null)]
    [InlineData("", true, null)]
    [InlineData("alice", true, "alice")]
    [InlineData("bad\nuser", false, null)]
    public async Task TokenIsTheUserId(string? token, bool succeeded, string? user)
    {
        var result = await new DevTokenAuthenticator().AuthenticateAsync(new AuthenticationContext(token, new DefaultHttpContext()), default);
        Assert.Equal(succeeded, result.Succeeded);
        Assert.Equal(user, result.UserId);
        Assert.Equal(succeeded ? null : "invalid_token", result.FailureReason);
    }

    [Fact]
    public async Task TokenLongerThanMaxUserIdLength_IsRefused()
    {
        var longest = new string('a', AuthenticationResult.MaxUserIdLength);
        Assert.Equal(longest, (await new DevTokenAuthenticator().AuthenticateAsync(new AuthenticationContext(longest, new DefaultHttpContext()), default)).UserId);
        var tooLong = await new DevTokenAuthenticator().AuthenticateAsync(new AuthenticationContext(longest + "a", new DefaultHttpContext()), default);
        Assert.Equal("invalid_token", tooLong.FailureReason);
    }
}
