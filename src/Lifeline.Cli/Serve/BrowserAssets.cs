using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Lifeline.Cli.Serve;

/// <summary>One file served by <c>lifeline serve</c> from the tool's embedded resources.</summary>
/// <param name="ContentType">The <c>Content-Type</c> header.</param>
/// <param name="Body">The bytes.</param>
/// <param name="ETag">A strong entity tag derived from the bytes.</param>
internal sealed record BrowserAsset(string ContentType, byte[] Body, string ETag);

/// <summary>
/// The browser side of <c>lifeline serve</c>: the browser client at <see cref="ClientPath"/> (the one-file ES module
/// bundle of <c>clients/js</c>, exporting <c>LifelineClient</c>), its source map, and the demo at <see cref="DemoPath"/>
/// (a collaborative list). The files live in <c>src/Lifeline.Cli/Web/</c> and are embedded in the tool, so the .NET
/// build needs no npm: <c>Web/lifeline.js</c> is a committed copy of <c>clients/js/dist/lifeline.js</c>, refreshed
/// with <c>npm run bundle:server</c> in <c>clients/js</c>; a test of <c>npm test</c> fails when the copy is stale.
/// </summary>
internal static class BrowserAssets
{
    /// <summary>The browser client (ES module).</summary>
    public const string ClientPath = "/lifeline.js";

    /// <summary>The browser client's source map.</summary>
    public const string SourceMapPath = "/lifeline.js.map";

    /// <summary>The demo page.</summary>
    public const string DemoPath = "/";

    /// <summary>In the demo page, replaced by the WebSocket endpoint's path (HTML-encoded).</summary>
    internal const string WebSocketPathPlaceholder = "__LIFELINE_WS_PATH__";

    private const string ResourcePrefix = "Lifeline.Cli.Web.";

    /// <summary>Maps <c>GET</c> (and <c>HEAD</c>) for the client, its source map and the demo page.</summary>
    /// <param name="app">The application.</param>
    /// <param name="webSocketPath">The WebSocket endpoint's path, written into the demo page.</param>
    public static void Map(WebApplication app, string webSocketPath)
    {
        var client = Load("lifeline.js", "text/javascript; charset=utf-8");
        var sourceMap = Load("lifeline.js.map", "application/json; charset=utf-8");
        var demoTemplate = Encoding.UTF8.GetString(Load("index.html", "text/html").Body);
        var demo = Create(
            "text/html; charset=utf-8",
            Encoding.UTF8.GetBytes(demoTemplate.Replace(WebSocketPathPlaceholder, WebUtility.HtmlEncode(webSocketPath), StringComparison.Ordinal)));

        // A WebSocket endpoint at one of these paths (--path /) wins: the file is then not served.
        foreach (var (path, asset) in new[] { (ClientPath, client), (SourceMapPath, sourceMap), (DemoPath, demo) })
        {
            if (!string.Equals(path, webSocketPath, StringComparison.Ordinal))
            {
                MapAsset(app, path, asset);
            }
        }
    }

    /// <summary>Reads an embedded file of <c>Web/</c>.</summary>
    /// <param name="name">The file name, for example <c>lifeline.js</c>.</param>
    /// <param name="contentType">Its content type.</param>
    /// <returns>The asset.</returns>
    internal static BrowserAsset Load(string name, string contentType)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourcePrefix + name)
            ?? throw new InvalidOperationException($"embedded resource {ResourcePrefix}{name} missing from the lifeline tool (see Lifeline.Cli.csproj)");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return Create(contentType, buffer.ToArray());
    }

    private static BrowserAsset Create(string contentType, byte[] body) =>
        new(contentType, body, "\"" + Convert.ToHexStringLower(SHA256.HashData(body).AsSpan(0, 16)) + "\"");

    private static void MapAsset(WebApplication app, string path, BrowserAsset asset) =>
        app.MapMethods(path, [HttpMethods.Get, HttpMethods.Head], (HttpContext context) =>
        {
            var headers = context.Response.Headers;
            headers.ETag = asset.ETag;

            // Revalidate every time: a restarted server may carry a newer client.
            headers.CacheControl = "no-cache";
            headers[HeaderNames.XContentTypeOptions] = "nosniff";
            if (context.Request.Headers.IfNoneMatch.Contains(asset.ETag))
            {
                return Results.StatusCode(StatusCodes.Status304NotModified);
            }

            return Results.Bytes(asset.Body, asset.ContentType);
        });
}
