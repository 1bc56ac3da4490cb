using System.Buffers;
using Lifeline.Client.Internal;

namespace Lifeline.Client.Tests;

/// <summary>The transport choice rules (PROTOCOL.md "HTTP transport", "Choosing"), one outcome at a time.</summary>
public class TransportLadderTests
{
    private static readonly LifelineTransport[] All = [LifelineTransport.WebSocket, LifelineTransport.HttpStream, LifelineTransport.HttpPoll];

    // A fresh URL per test: what worked is remembered per URL for the process.
    private static Uri NewUrl() => new($"ws://ladder-{Guid.NewGuid():N}.test/ws");

    [Fact]
    public void StartsWithTheWebSocket()
    {
        var ladder = new TransportLadder(NewUrl(), All);
        Assert.Equal(LifelineTransport.WebSocket, ladder.Next);
        Assert.False(ladder.TakeImmediate());
    }

    [Fact]
    public void ARefusedUpgrade_FallsBackToTheStream_AtOnce()
    {
        var ladder = new TransportLadder(NewUrl(), All);
        Assert.Equal(LifelineTransport.HttpStream, ladder.Failed(new Outcome(LifelineTransport.WebSocket, refused: true), timedOut: false));
        Assert.Equal(LifelineTransport.HttpStream, ladder.Next);
        Assert.True(ladder.TakeImmediate());
        Assert.False(ladder.TakeImmediate()); // taken once
    }

    [Fact]
    public void AWebSocketThatOpensWithoutWelcome_FallsBackOnlyTheSecondTimeInARow()
    {
        var ladder = new TransportLadder(NewUrl(), All);
        var silent = new Outcome(LifelineTransport.WebSocket, opened: true);
        Assert.Null(ladder.Failed(silent, timedOut: true));
        Assert.Equal(LifelineTransport.WebSocket, ladder.Next);
        Assert.False(ladder.TakeImmediate());
        Assert.Equal(LifelineTransport.HttpStream, ladder.Failed(silent, timedOut: true));
        Assert.True(ladder.TakeImmediate());
    }

    [Fact]
    public void AWelcomeBetweenTwoSilentOpens_StartsTheCountAgain()
    {
        var ladder = new TransportLadder(NewUrl(), All);
        var silent = new Outcome(LifelineTransport.WebSocket, opened: true);
        Assert.Null(ladder.Failed(silent, timedOut: true));
        ladder.Welcomed(LifelineTransport.WebSocket);
        Assert.Null(ladder.Failed(silent, timedOut: true));
        Assert.Equal(LifelineTransport.WebSocket, ladder.Next);
    }

    [Fact]
    public void AServerThatIsDown_IsNoReasonToFallBack()
    {
        var ladder = new TransportLadder(NewUrl(), All);
        Assert.Null(ladder.Failed(new Outcome(LifelineTransport.WebSocket), timedOut: false));
        Assert.Equal(LifelineTransport.WebSocket, ladder.Next);
        Assert.False(ladder.TakeImmediate());
    }

    [Fact]
    public void AStreamThatAnswersWithoutWelcome_FallsBackToPolling_AtOnce()
    {
        var ladder = new TransportLadder(NewUrl(), All);
        ladder.Failed(new Outcome(LifelineTransport.WebSocket, refused: true), timedOut: false);
        ladder.TakeImmediate();
        Assert.Equal(LifelineTransport.HttpPoll, ladder.Failed(new Outcome(LifelineTransport.HttpStream, opened: true), timedOut: true));
        Assert.True(ladder.TakeImmediate());
    }

    [Fact]
    public void WhenTheHttpEndpointDoesNotAnswerEither_TheNextAttemptStartsFromTheWebSocket_AfterTheBackoff()
    {
        var ladder = new TransportLadder(NewUrl(), All);
        ladder.Failed(new Outcome(LifelineTransport.WebSocket, refused: true), timedOut: false);
        ladder.TakeImmediate();
        Assert.Null(ladder.Failed(new Outcome(LifelineTransport.HttpStream), timedOut: false));
        Assert.Equal(LifelineTransport.WebSocket, ladder.Next);
        Assert.False(ladder.TakeImmediate());
    }

    [Fact]
    public void WhatWorked_IsRememberedPerUrl_AndSurvivesAnOutage()
    {
        var url = NewUrl();
        var ladder = new TransportLadder(url, All);
        ladder.Failed(new Outcome(LifelineTransport.WebSocket, refused: true), timedOut: false);
        ladder.Welcomed(LifelineTransport.HttpStream);

        // The server goes down: the stream does not answer, but it worked before, so the client keeps to it.
        Assert.Null(ladder.Failed(new Outcome(LifelineTransport.HttpStream), timedOut: false));
        Assert.Equal(LifelineTransport.HttpStream, ladder.Next);

        // A later client for the same URL starts there; another URL does not.
        Assert.Equal(LifelineTransport.HttpStream, new TransportLadder(url, All).Next);
        Assert.Equal(LifelineTransport.WebSocket, new TransportLadder(NewUrl(), All).Next);

        // ...unless the remembered transport is not allowed for it.
        Assert.Equal(LifelineTransport.WebSocket, new TransportLadder(url, [LifelineTransport.WebSocket, LifelineTransport.HttpPoll]).Next);
    }

    [Fact]
    public void TheProbe_RunsOnlyOnHttp_WhenTheWebSocketIsAllowed_AndItsSwitchGoesAtOnce()
    {
        var ladder = new TransportLadder(NewUrl(), All);
        Assert.False(ladder.Probes(LifelineTransport.WebSocket));
        Assert.True(ladder.Probes(LifelineTransport.HttpStream));
        Assert.True(ladder.Probes(LifelineTransport.HttpPoll));
        Assert.False(new TransportLadder(NewUrl(), [LifelineTransport.HttpStream]).Probes(LifelineTransport.HttpStream));

        ladder.Welcomed(LifelineTransport.HttpPoll);
        ladder.SwitchToWebSocket();
        Assert.Equal(LifelineTransport.WebSocket, ladder.Next);
        Assert.True(ladder.TakeImmediate());
    }

    [Fact]
    public void TheLastAllowedTransport_HasNothingToFallBackTo()
    {
        var ladder = new TransportLadder(NewUrl(), [LifelineTransport.HttpStream]);
        Assert.Null(ladder.Failed(new Outcome(LifelineTransport.HttpStream, opened: true), timedOut: true));
        Assert.Equal(LifelineTransport.HttpStream, ladder.Next);
        Assert.False(ladder.TakeImmediate());
    }

    [Theory]
    [InlineData("ws://example.com/ws", "http://example.com/ws")]
    [InlineData("wss://example.com/ws/", "https://example.com/ws")]
    [InlineData("ws://127.0.0.1:8080/app/ws?x=1#f", "http://127.0.0.1:8080/app/ws")]
    [InlineData("wss://example.com:443/ws", "https://example.com/ws")]
    public void HttpBaseUrl_IsTheSameEndpointOverHttp(string ws, string http) =>
        Assert.Equal(http, HttpTransport.HttpBaseUrl(new Uri(ws)));

    [Fact]
    public void Options_RejectAnEmptyOrUnknownTransportList()
    {
        var url = new Uri("ws://127.0.0.1:1/ws");
        Assert.Throws<ArgumentException>(() => new LifelineClient(url, new LifelineClientOptions { Transports = [] }));
        Assert.Throws<ArgumentException>(() => new LifelineClient(url, new LifelineClientOptions { Transports = [(LifelineTransport)7] }));
        Assert.Throws<ArgumentNullException>(() => new LifelineClient(url, new LifelineClientOptions { Transports = null! }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LifelineClient(url, new LifelineClientOptions { TransportProbeInterval = TimeSpan.Zero }));
    }

    /// <summary>How an attempt's transport ended, as the ladder reads it.</summary>
    private sealed class Outcome(LifelineTransport kind, bool opened = false, bool refused = false) : IClientTransport
    {
        public LifelineTransport Kind => kind;

        public bool Opened => opened;

        public bool UpgradeRefused => refused;

        public bool IsOpen => false;

        public bool AwaitsCloseEcho => false;

        public int? CloseStatus => null;

        public Task ConnectAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<TransportReceiveResult> ReceiveAsync(IBufferWriter<byte> buffer, Action onData, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task CloseOutputAsync(int code, string? reason, CancellationToken cancellationToken) => throw new NotSupportedException();

        public void Abort()
        {
        }

        public void Dispose()
        {
        }
    }
}
