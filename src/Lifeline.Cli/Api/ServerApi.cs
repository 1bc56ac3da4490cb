using System.Globalization;
using Lifeline.Cli.Serve;
using Lifeline.Protocol;
using Lifeline.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace Lifeline.Cli.Api;

/// <summary>
/// The server API of <c>lifeline serve</c>, for the application's backends (not browsers): mapped under
/// <see cref="Prefix"/> only when <c>--api-key-file</c> is given (otherwise every path below is 404), each request
/// authorized by <c>Authorization: Bearer KEY</c> (<see cref="ApiKeys"/>; 401 with <c>WWW-Authenticate: Bearer</c>
/// otherwise), bodies read by <see cref="ApiRequestBody"/>, every refusal an RFC 9457 problem document
/// (<see cref="ApiProblem"/>), no CORS headers. The operations go through <see cref="LifelineServer"/>, so they get the
/// same checks as a client's (channel names, patch limits, the channel policy). Each endpoint is one small handler
/// below; a new one is one more <c>Map</c> line and handler. The OpenAPI document is at <see cref="OpenApiPath"/>.
/// </summary>
internal static class ServerApi
{
    /// <summary>The path prefix of every API endpoint.</summary>
    public const string Prefix = "/api";

    /// <summary>The OpenAPI document's name (and the file name in its path).</summary>
    public const string DocumentName = "openapi";

    /// <summary>The path of the OpenAPI document.</summary>
    public const string OpenApiPath = Prefix + "/" + DocumentName + ".json";

    /// <summary>The close code of <c>POST /api/disconnect</c> when the body names none: 1008 (policy_violation, not retried).</summary>
    public static readonly CloseCode DefaultDisconnectCode = CloseCode.PolicyViolation;

    /// <summary>Registers the OpenAPI document (only the API's endpoints, with the bearer scheme).</summary>
    /// <param name="services">The application's services.</param>
    public static void AddServices(IServiceCollection services)
    {
        services.AddOpenApi(DocumentName, o =>
        {
            o.ShouldInclude = d => d.RelativePath?.StartsWith(Prefix[1..] + "/", StringComparison.Ordinal) == true;
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "Lifeline server API",
                    Version = "1",
                    Description = "For the application's backends: publish to channels (conditionally too), emit events, send messages to users, "
                        + "read channels and presence, disconnect users. "
                        + "Every request needs Authorization: Bearer <key> (a key of --api-key-file).",
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme { Type = SecuritySchemeType.Http, Scheme = "bearer" };
                document.Security ??= [];
                document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] });
                return Task.CompletedTask;
            });
        });
    }

    /// <summary>Maps the API and its OpenAPI document.</summary>
    /// <param name="app">The application.</param>
    /// <param name="keys">The keys of <c>--api-key-file</c>.</param>
    public static void Map(WebApplication app, ApiKeys keys)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(ApiLog.Category);
        app.MapOpenApi(Prefix + "/{documentName}.json");

        var api = app.MapGroup(Prefix).AddEndpointFilter(async (context, next) =>
            Authorize(context.HttpContext, keys, logger) ?? await next(context));

        api.MapPost("/publish", (HttpContext http, LifelineServer server, IOptions<LifelineOptions> options) =>
                Handle(http, logger, () => PublishAsync(http, server, options.Value, logger)))
            .WithName("publish")
            .WithSummary("Publish a merge patch to a channel")
            .AddOpenApiOperationTransformer(JsonBody<ApiPublishRequest>)
            .Produces<ApiPublishResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        api.MapPost("/emit", (HttpContext http, LifelineServer server, IOptions<LifelineOptions> options) =>
                Handle(http, logger, () => EmitAsync(http, server, options.Value, logger)))
            .WithName("emit")
            .WithSummary("Emit an ephemeral event to a channel's subscribers (nothing stored)")
            .AddOpenApiOperationTransformer(JsonBody<ApiEmitRequest>)
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        api.MapPost("/send", (HttpContext http, LifelineServer server, IOptions<LifelineOptions> options) =>
                Handle(http, logger, () => SendAsync(http, server, options.Value, logger)))
            .WithName("send")
            .WithSummary("Send a message to every open connection of a user, on every node")
            .AddOpenApiOperationTransformer(JsonBody<ApiSendRequest>)
            .Produces<ApiSendResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        api.MapPost("/disconnect", (HttpContext http, LifelineServer server) =>
                Handle(http, logger, () => DisconnectAsync(http, server, logger)))
            .WithName("disconnect")
            .WithSummary("Close every connection of a user, on every node")
            .AddOpenApiOperationTransformer(JsonBody<ApiDisconnectRequest>)
            .Produces<ApiDisconnectResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        api.MapGet("/channels/{**name}", (HttpContext http, string name, LifelineServer server) =>
                Handle(http, logger, () => ChannelAsync(name, server, http.RequestAborted)))
            .WithName("channel")
            .WithSummary("Read a channel's epoch, offset and state")
            .Produces<ApiChannelResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);

        api.MapGet("/presence/{**name}", (HttpContext http, string name, LifelineServer server) =>
                Handle(http, logger, () => PresenceAsync(name, server, http.RequestAborted)))
            .WithName("presence")
            .WithSummary("List the users present in a channel")
            .Produces<ApiPresenceResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        ApiLog.Enabled(logger, Prefix, keys.Count, OpenApiPath);
    }

    /// <summary>
    /// Documents a JSON request body of <typeparamref name="T"/> without <c>Accepts</c> metadata: that would make routing
    /// refuse (415) a body sent as text/plain or form data, as curl -d and many HTTP clients send JSON; the API reads
    /// the body as JSON whatever its Content-Type.
    /// </summary>
    private static async Task JsonBody<T>(OpenApiOperation operation, Microsoft.AspNetCore.OpenApi.OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var schema = await context.GetOrCreateSchemaAsync(typeof(T), null, cancellationToken);
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = schema } },
        };
    }

    private static async Task<IResult> PublishAsync(HttpContext http, LifelineServer server, LifelineOptions options, ILogger logger)
    {
        var body = await ApiRequestBody.ReadAsync(http, options.MaxJsonDepth + 1);
        var channel = body.RequiredString("channel");
        var patch = body.RequiredObject("patch");
        var key = body.OptionalString("key");
        if (key is not null && (key.Length is 0 or > ProtocolConstants.MaxKeyLength))
        {
            throw ApiProblem.Field(string.Create(CultureInfo.InvariantCulture, $"'key' must be 1 to {ProtocolConstants.MaxKeyLength} characters"));
        }

        var expected = body.OptionalPosition("if");
        CheckSize("patch", patch, options);
        var result = await server.PublishAsync(channel, patch, key, expected, http.RequestAborted);
        ApiLog.Published(logger, channel, result.Epoch, result.Offset, result.Duplicate);
        return Results.Json(new ApiPublishResponse(result.Epoch, result.Offset, result.Duplicate), ApiJsonContext.Default.ApiPublishResponse);
    }

    private static async Task<IResult> EmitAsync(HttpContext http, LifelineServer server, LifelineOptions options, ILogger logger)
    {
        var body = await ApiRequestBody.ReadAsync(http, options.MaxJsonDepth + 1);
        var channel = body.RequiredString("channel");
        var data = body.RequiredValue("data");
        CheckSize("data", data, options);
        await server.EmitAsync(channel, data, http.RequestAborted);
        ApiLog.Emitted(logger, channel);
        return Results.NoContent();
    }

    private static async Task<IResult> SendAsync(HttpContext http, LifelineServer server, LifelineOptions options, ILogger logger)
    {
        var body = await ApiRequestBody.ReadAsync(http, options.MaxJsonDepth + 1);
        var user = body.RequiredString("user");
        if (user.Length == 0)
        {
            throw ApiProblem.Field("'user' must not be empty");
        }

        var data = body.RequiredValue("data");
        CheckSize("data", data, options);
        var delivered = await server.SendToUserAsync(user, data, http.RequestAborted);
        ApiLog.Sent(logger, user, delivered);
        return Results.Json(new ApiSendResponse(delivered), ApiJsonContext.Default.ApiSendResponse);
    }

    /// <summary>413 for a patch or data over <see cref="LifelineOptions.MaxPatchSize"/> (the server would refuse it with <c>limit_exceeded</c>).</summary>
    private static void CheckSize(string name, System.Text.Json.JsonElement value, LifelineOptions options)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(value.GetRawText()) > options.MaxPatchSize)
        {
            throw new ApiProblem(StatusCodes.Status413PayloadTooLarge, "too_large", string.Create(CultureInfo.InvariantCulture, $"'{name}' is larger than {options.MaxPatchSize} bytes (MaxPatchSize)"));
        }
    }

    private static async Task<IResult> DisconnectAsync(HttpContext http, LifelineServer server, ILogger logger)
    {
        var body = await ApiRequestBody.ReadAsync(http, 16);
        var user = body.RequiredString("user");
        if (user.Length == 0)
        {
            throw ApiProblem.Field("'user' must not be empty");
        }

        var code = body.OptionalInt("code") is { } number ? DisconnectCode(number) : DefaultDisconnectCode;
        var closed = await server.DisconnectUserAsync(user, code);
        ApiLog.Disconnected(logger, user, closed, code.Code);
        return Results.Json(new ApiDisconnectResponse(closed), ApiJsonContext.Default.ApiDisconnectResponse);
    }

    private static async Task<IResult> ChannelAsync(string name, LifelineServer server, CancellationToken cancellationToken)
    {
        var snapshot = await server.GetChannelAsync(name, cancellationToken);
        if (snapshot.Offset == 0)
        {
            // Nothing was ever published (or the channel expired): the engine answers an empty state in a fresh epoch.
            throw new ApiProblem(StatusCodes.Status404NotFound, "not_found", $"channel '{name}' has no state (nothing was published to it)");
        }

        return Results.Json(new ApiChannelResponse(snapshot.Epoch, snapshot.Offset, snapshot.State), ApiJsonContext.Default.ApiChannelResponse);
    }

    private static async Task<IResult> PresenceAsync(string name, LifelineServer server, CancellationToken cancellationToken) =>
        Results.Json(new ApiPresenceResponse(await server.GetPresenceAsync(name, cancellationToken)), ApiJsonContext.Default.ApiPresenceResponse);

    /// <summary>A close code the API may send: 1000, 1001, 1008, 1011, 1013 or 4000-4999 (1005, 1006 and 1015 are never sent on the wire).</summary>
    private static CloseCode DisconnectCode(int code) => code is 1000 or 1001 or 1008 or 1011 or 1013 or (>= 4000 and <= 4999)
        ? CloseCode.FromCode(code)
        : throw ApiProblem.Field(string.Create(CultureInfo.InvariantCulture, $"'code' must be 1000, 1001, 1008, 1011, 1013 or 4000-4999 (was {code})"));

    /// <summary>Runs a handler, turning a refusal into its problem document.</summary>
    private static async Task<IResult> Handle(HttpContext http, ILogger logger, Func<Task<IResult>> handler)
    {
        try
        {
            return await handler();
        }
        catch (ApiProblem problem)
        {
            ApiLog.Refused(logger, http.Request.Method, http.Request.Path, problem.Status, problem.Code, problem.Message);
            return problem.ToResult();
        }
        catch (LifelineRequestException ex) when (ex.CurrentPosition is { } current)
        {
            // A conditional publish found the channel elsewhere: 409 with the position to re-read from.
            ApiLog.Refused(logger, http.Request.Method, http.Request.Path, StatusCodes.Status409Conflict, ex.Code, ex.Message);
            return new ApiProblem(StatusCodes.Status409Conflict, ex.Code, ex.Message, current).ToResult();
        }
        catch (LifelineRequestException ex)
        {
            var status = ex.Code switch
            {
                ErrorCodes.Forbidden => StatusCodes.Status403Forbidden,
                ErrorCodes.RateLimited => StatusCodes.Status429TooManyRequests,
                ErrorCodes.Unavailable => StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status400BadRequest,
            };
            ApiLog.Refused(logger, http.Request.Method, http.Request.Path, status, ex.Code, ex.Message);
            return new ApiProblem(status, ex.Code, ex.Message).ToResult();
        }
        catch (Lifeline.Engine.EngineUnavailableException ex)
        {
            // Redis unreachable (--redis): the same answer a client's publish gets, as HTTP 503.
            ApiLog.Refused(logger, http.Request.Method, http.Request.Path, StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable, ex.Message);
            return new ApiProblem(StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable, $"the engine is unavailable: {ex.Message}").ToResult();
        }
    }

    /// <summary>Null when the request carries a known key; else the 401 (with <c>WWW-Authenticate: Bearer</c>).</summary>
    private static IResult? Authorize(HttpContext http, ApiKeys keys, ILogger logger)
    {
        var header = http.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        string? reason = null;
        if (header.Length == 0)
        {
            reason = "no Authorization header (Authorization: Bearer <key>)";
        }
        else if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) || !keys.Matches(header[Scheme.Length..].Trim()))
        {
            reason = "the key is not one of --api-key-file's";
        }

        if (reason is null)
        {
            return null;
        }

        ApiLog.Unauthorized(logger, http.Request.Method, http.Request.Path, http.Connection.RemoteIpAddress?.ToString(), reason);
        http.Response.Headers.WWWAuthenticate = "Bearer";
        return new ApiProblem(StatusCodes.Status401Unauthorized, "unauthorized", reason).ToResult();
    }
}
