using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace Lifeline.Bench.Servers;

/// <summary>Settings every benchmark server takes from its command line (the generator passes the same to all three).</summary>
/// <param name="Port">TCP port on 127.0.0.1.</param>
/// <param name="HeartbeatInterval">How often the server pings each connection.</param>
/// <param name="HeartbeatTimeout">How long a ping may stay unanswered before the server drops the connection.</param>
/// <param name="ParentPid">The generator's PID: the server exits when that process is gone (0: no watch).</param>
internal sealed record BenchSettings(int Port, TimeSpan HeartbeatInterval, TimeSpan HeartbeatTimeout, int ParentPid)
{
    /// <summary>Listen backlog, the same for the three servers (somaxconn caps it).</summary>
    public const int Backlog = 4096;

    public static BenchSettings Parse(string[] args)
    {
        int port = 0, intervalMs = 10_000, timeoutMs = 5_000, parent = 0;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var value = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--port": port = value; break;
                case "--heartbeat-interval-ms": intervalMs = value; break;
                case "--heartbeat-timeout-ms": timeoutMs = value; break;
                case "--parent-pid": parent = value; break;
                default: throw new ArgumentException("unknown option " + args[i]);
            }
        }

        return new BenchSettings(port, TimeSpan.FromMilliseconds(intervalMs), TimeSpan.FromMilliseconds(timeoutMs), parent);
    }
}

/// <summary>The host both .NET benchmark servers share: Kestrel on loopback, logging at Warning, a READY line.</summary>
internal static class BenchHost
{
    /// <summary>The builder; <paramref name="listen"/>, when given, configures the Kestrel endpoint (the lean listener).</summary>
    public static WebApplicationBuilder CreateBuilder(BenchSettings settings, Action<Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions>? listen = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.Configure<SocketTransportOptions>(o => o.Backlog = BenchSettings.Backlog);
        builder.WebHost.ConfigureKestrel(k =>
        {
            // BENCH_LISTEN_ADDRESS: the network workloads run the server inside a namespace, on its veth address.
            var address = System.Environment.GetEnvironmentVariable("BENCH_LISTEN_ADDRESS");
            k.Listen(string.IsNullOrEmpty(address) ? IPAddress.Loopback : IPAddress.Parse(address), settings.Port, l => listen?.Invoke(l));
            k.Limits.MaxConcurrentConnections = null;
            k.Limits.MaxConcurrentUpgradedConnections = null;
        });
        return builder;
    }

    /// <summary>Starts the app, prints <c>READY port pid</c> (what the generator waits for), runs until SIGTERM.</summary>
    public static async Task RunAsync(WebApplication app, BenchSettings settings)
    {
        await app.StartAsync();
        WatchParent(settings.ParentPid);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"READY {settings.Port} {Environment.ProcessId}"));
        await app.WaitForShutdownAsync();
    }

    /// <summary>Exits when the generator is gone, however it ended (even SIGKILL): no server outlives its run.</summary>
    private static void WatchParent(int pid)
    {
        if (pid <= 0)
        {
            return;
        }

        var thread = new Thread(() =>
        {
            while (Directory.Exists("/proc/" + pid.ToString(CultureInfo.InvariantCulture)))
            {
                Thread.Sleep(1000);
            }

            Environment.Exit(0);
        })
        { IsBackground = true, Name = "parent watch" };
        thread.Start();
    }
}
