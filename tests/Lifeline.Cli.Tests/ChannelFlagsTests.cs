using Lifeline.Cli.Commands;
using Lifeline.Engine;
using Lifeline.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Lifeline.Cli.Tests;

/// <summary>The channel flags of <c>lifeline serve</c> reach the server and the in-memory engine.</summary>
public class ChannelFlagsTests
{
    [Fact]
    public async Task History_resume_and_presence_flags_configure_server_and_engine()
    {
        var (app, settings) = ServeCommand.BuildApp(["--port", "0", "--history-size", "7", "--history-age", "90s", "--resume-window", "30s", "--presence-grace", "2s"]);
        await using var _ = app;
        var engine = app.Services.GetRequiredService<IOptions<MemoryEngineOptions>>().Value;
        var server = app.Services.GetRequiredService<IOptions<LifelineOptions>>().Value;
        Assert.Equal(7, engine.HistorySize);
        Assert.Equal(TimeSpan.FromSeconds(90), engine.HistoryAge);
        Assert.Equal(TimeSpan.FromSeconds(30), engine.IdempotencyWindow);
        Assert.Equal(TimeSpan.FromSeconds(30), server.ResumeWindow);
        Assert.Equal(TimeSpan.FromSeconds(2), server.PresenceGracePeriod);
        Assert.Equal(7, ((MemoryEngine)app.Services.GetRequiredService<ILifelineEngine>()).HistorySize);
        Assert.Equal(7, settings.Get(Serve.ServeSettingTable.HistorySize));
    }

    [Theory]
    [InlineData("--history-size", "0")]
    [InlineData("--presence-grace", "-1s")]
    [InlineData("--history-age", "soon")]
    public void Bad_channel_flags_are_refused(string flag, string value)
    {
        Assert.ThrowsAny<Exception>(() => ServeCommand.BuildApp([flag, value]));
    }
}
