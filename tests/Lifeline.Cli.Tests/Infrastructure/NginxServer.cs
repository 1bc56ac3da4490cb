using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Lifeline.Cli.Tests.Infrastructure;

/// <summary>
/// A real nginx (the Debian package) running <c>deploy/nginx/lifeline.conf</c> (with its ports, and optionally its
/// timeouts, replaced) in the foreground as a child process, with its own prefix, temp and log files; killed on dispose.
/// </summary>
public sealed partial class NginxServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;

    private NginxServer(Process process, string dir, int port)
    {
        _process = process;
        _dir = dir;
        Port = port;
    }

    /// <summary>The loopback port nginx listens on.</summary>
    public int Port { get; }

    /// <summary>The WebSocket URL of the Lifeline location.</summary>
    public Uri WsUri => new($"ws://127.0.0.1:{Port}/ws");

    /// <summary>nginx's error log so far.</summary>
    public string ErrorLog => File.Exists(Path.Combine(_dir, "error.log")) ? File.ReadAllText(Path.Combine(_dir, "error.log")) : "";

    /// <summary>The shipped configuration with the given upstream ports and, when given, another read/send timeout.</summary>
    public static string ShippedConfig(IReadOnlyList<int> upstreamPorts, int listenPort, string? timeout = null)
    {
        var text = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "deploy", "nginx", "lifeline.conf"));
        var servers = string.Join("\n", upstreamPorts.Select(p => $"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;"));
        text = UpstreamServers().Replace(text, servers + "\n"); // every upstream (WebSocket and HTTP transport)
        text = text.Replace("listen 127.0.0.1:8080;", $"listen 127.0.0.1:{listenPort};", StringComparison.Ordinal);
        if (timeout is not null)
        {
            // Whatever the shipped value is (it follows the default heartbeat), the test's own timeout replaces it.
            text = System.Text.RegularExpressions.Regex.Replace(text, @"proxy_(read|send)_timeout [^;]+;", $"proxy_$1_timeout {timeout};");
        }

        return text;
    }

    /// <summary>Starts nginx with <paramref name="lifelineConf"/> included in its http block; waits until it accepts connections.</summary>
    public static async Task<NginxServer> StartAsync(string lifelineConf, int port)
    {
        var executable = ExternalTool.Require("nginx", "nginx");
        var dir = Directory.CreateTempSubdirectory("lifeline-nginx-").FullName;
        foreach (var temp in new[] { "body", "proxy", "fastcgi", "uwsgi", "scgi" })
        {
            Directory.CreateDirectory(Path.Combine(dir, temp));
        }

        await File.WriteAllTextAsync(Path.Combine(dir, "lifeline.conf"), lifelineConf);
        await File.WriteAllTextAsync(Path.Combine(dir, "nginx.conf"), $$"""
            daemon off;
            master_process off;
            error_log {{dir}}/error.log info;
            pid {{dir}}/nginx.pid;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path {{dir}}/body;
                proxy_temp_path {{dir}}/proxy;
                fastcgi_temp_path {{dir}}/fastcgi;
                uwsgi_temp_path {{dir}}/uwsgi;
                scgi_temp_path {{dir}}/scgi;
                include {{dir}}/lifeline.conf;
            }
            """);
        var info = new ProcessStartInfo(executable) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-p", dir, "-e", Path.Combine(dir, "error.log"), "-c", Path.Combine(dir, "nginx.conf") })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var server = new NginxServer(process, dir, port);

        // nginx prints nothing when ready: try to connect, a bounded number of times.
        for (var attempt = 0; attempt < 200; attempt++)
        {
            if (process.HasExited)
            {
                break;
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return server;
            }
            catch (SocketException)
            {
                await Task.Delay(25);
            }
        }

        var log = server.ErrorLog;
        await server.DisposeAsync();
        throw new InvalidOperationException("nginx did not start:\n" + log);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex(@"(    server 127\.0\.0\.1:\d+ [^\n]*\n)+")]
    private static partial Regex UpstreamServers();
}
