using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Lifeline.Client.Tests;

public partial class OptionsTests
{
    [Fact]
    public void Defaults_MatchTheNamedConstants()
    {
        var o = new LifelineClientOptions();
        Assert.Null(o.Token);
        Assert.Equal(LifelineClientOptions.DefaultClientName, o.ClientName);
        Assert.Equal("lifeline-dotnet/1.0", o.ClientName);
        Assert.Equal(LifelineClientOptions.DefaultWatchdogSlack, o.WatchdogSlack);
        Assert.Equal(LifelineClientOptions.DefaultConnectTimeout, o.ConnectTimeout);
        Assert.Equal(LifelineClientOptions.DefaultCloseTimeout, o.CloseTimeout);
        Assert.Equal(LifelineClientOptions.DefaultOfflineQueueLimit, o.OfflineQueueLimit);
        Assert.Equal(1000, o.OfflineQueueLimit);
        Assert.Equal(TimeSpan.FromSeconds(10), o.ConnectTimeout);
        Assert.Same(TimeProvider.System, o.TimeProvider);
        Assert.False(o.ReconnectOnNormalClose);
        Assert.Null(o.TokenProvider);
        Assert.Equal(LifelineClientOptions.DefaultTokenRefreshRatio, o.TokenRefreshRatio);
        Assert.Equal(0.8, o.TokenRefreshRatio);
        Assert.Equal(LifelineClientOptions.DefaultTokenRefreshMargin, o.TokenRefreshMargin);
        Assert.Equal(TimeSpan.FromSeconds(30), o.TokenRefreshMargin);
    }

    /// <summary>Every option's summary ends "The default is N." and N agrees with the value a new instance has.</summary>
    [Fact]
    public void DocumentedDefaults_AgreeWithTheValues()
    {
        var xmlPath = Path.ChangeExtension(typeof(LifelineClientOptions).Assembly.Location, ".xml");
        Assert.True(File.Exists(xmlPath), $"XML docs not found at {xmlPath}");
        var docs = XDocument.Load(xmlPath);
        var options = new LifelineClientOptions();
        var policy = new ExponentialBackoffRetryPolicy();
        var checkedCount = 0;
        foreach (var (type, instance) in new (Type, object)[] { (typeof(LifelineClientOptions), options), (typeof(ExponentialBackoffRetryPolicy), policy) })
        {
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite || p.SetMethod is not null))
            {
                var member = docs.Descendants("member").Single(m => (string?)m.Attribute("name") == $"P:{type.FullName}.{property.Name}");
                var summaryElement = new XElement(member.Element("summary")!);
                foreach (var see in summaryElement.Descendants("see").ToList())
                {
                    // <see cref="P:System.Random.Shared"/> reads as "Random.Shared".
                    var cref = ((string?)see.Attribute("cref") ?? string.Empty).Split(':').Last().Split('.');
                    see.ReplaceWith(new XText(string.Join('.', cref.TakeLast(2))));
                }

                var summary = Regex.Replace(summaryElement.Value, @"\s+", " ").Trim();
                var match = DefaultSentence().Match(summary);
                Assert.True(match.Success, $"{type.Name}.{property.Name}: summary does not end with 'The default is N.': {summary}");
                var documented = match.Groups[1].Value;
                var actual = property.GetValue(instance);
                Assert.True(Agrees(documented, actual), $"{type.Name}.{property.Name}: documented '{documented}', actual '{actual}'");
                checkedCount++;
            }
        }

        Assert.True(checkedCount >= 17, $"only {checkedCount} properties checked");
    }

    private static bool Agrees(string documented, object? actual) => actual switch
    {
        null => documented.StartsWith("null", StringComparison.Ordinal),
        TimeSpan t => documented == Describe(t),
        IEnumerable<LifelineTransport> list => documented == string.Join(", ", list.Select(t => $"LifelineTransport.{t}")),
        bool b => documented == (b ? "true" : "false"),
        int i => documented == i.ToString(System.Globalization.CultureInfo.InvariantCulture),
        double d => documented == d.ToString(System.Globalization.CultureInfo.InvariantCulture),
        string s => documented == s,
        TimeProvider tp => ReferenceEquals(tp, TimeProvider.System) && documented.Contains("TimeProvider.System", StringComparison.Ordinal),
        Random r => ReferenceEquals(r, Random.Shared) && documented.Contains("Random.Shared", StringComparison.Ordinal),
        ExponentialBackoffRetryPolicy p => documented.Contains("ExponentialBackoffRetryPolicy", StringComparison.Ordinal)
            && p.BaseDelay == TimeSpan.FromSeconds(1) && p.MaxDelay == TimeSpan.FromSeconds(30) && p.MaxAttempts is null
            && documented.Contains("base 1 s, cap 30 s", StringComparison.Ordinal) && documented.Contains("unlimited", StringComparison.Ordinal),
        _ => false,
    };

    private static string Describe(TimeSpan t) => t.TotalSeconds == 1 ? "1 second"
        : t.TotalSeconds >= 60 && t.TotalSeconds % 60 == 0 ? (t.TotalMinutes == 1 ? "1 minute" : $"{t.TotalMinutes} minutes")
        : $"{t.TotalSeconds} seconds";

    [GeneratedRegex(@"The default is (.+)\.$")]
    private static partial Regex DefaultSentence();

    [Fact]
    public void ImpossibleValues_AreRejectedAtConstruction()
    {
        var url = new Uri("ws://127.0.0.1:1/ws");
        Assert.Throws<ArgumentOutOfRangeException>(() => new LifelineClient(url, new LifelineClientOptions { ConnectTimeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LifelineClient(url, new LifelineClientOptions { CloseTimeout = TimeSpan.FromSeconds(-1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LifelineClient(url, new LifelineClientOptions { OfflineQueueLimit = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LifelineClient(url, new LifelineClientOptions { WatchdogSlack = TimeSpan.FromSeconds(-1) }));
        Assert.Throws<ArgumentNullException>(() => new LifelineClient(url, new LifelineClientOptions { ReconnectPolicy = null! }));
        Assert.Throws<ArgumentException>(() => new LifelineClient(new Uri("http://127.0.0.1/ws")));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LifelineClient(url, new LifelineClientOptions { TokenRefreshRatio = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LifelineClient(url, new LifelineClientOptions { TokenRefreshRatio = 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LifelineClient(url, new LifelineClientOptions { TokenRefreshRatio = double.NaN }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LifelineClient(url, new LifelineClientOptions { TokenRefreshMargin = TimeSpan.FromSeconds(-1) }));
    }

    [Fact]
    public void Token_AndTokenProvider_TogetherAreRejected_WithAMessageNamingBoth()
    {
        var url = new Uri("ws://127.0.0.1:1/ws");
        var ex = Assert.Throws<ArgumentException>(() => new LifelineClient(url, new LifelineClientOptions { Token = "t", TokenProvider = _ => ValueTask.FromResult<string?>("p") }));
        Assert.Contains("Token", ex.Message, StringComparison.Ordinal);
        Assert.Contains("TokenProvider", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\"t\"", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NewClient_IsClosed_AndChannelsAreTheSameObjectPerName()
    {
        await using var client = new LifelineClient(new Uri("ws://127.0.0.1:1/ws"));
        Assert.Equal(ClientState.Closed, client.State);
        Assert.Same(client.Channel("room:1"), client.Channel("room:1"));
        Assert.NotSame(client.Channel("room:1"), client.Channel("room:2"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.Channel("room:1").PublishAsync(new System.Text.Json.Nodes.JsonObject { ["a"] = 1 }));
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.Channel("room:1").SubscribeAsync());
    }
}
