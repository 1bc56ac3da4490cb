using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Lifeline.Cli.Api;

/// <summary>
/// Reads the JSON body of an API request by hand rather than by model binding, so that every mistake gets its own
/// problem document naming the field: a body over <see cref="MaxBodySize"/> is 413 (by <c>Content-Length</c> at once,
/// or while reading a chunked body), one that is not JSON or not an object is 400, a field missing or of the wrong
/// JSON type is 400. Members the API does not know are ignored.
/// </summary>
internal sealed class ApiRequestBody
{
    /// <summary>The largest request body the API reads: 1 MiB (a patch is further bounded by <c>MaxPatchSize</c>).</summary>
    public const int MaxBodySize = 1024 * 1024;

    private readonly JsonElement _root;

    private ApiRequestBody(JsonElement root) => _root = root;

    /// <summary>Reads and parses the body.</summary>
    /// <param name="context">The request.</param>
    /// <param name="maxDepth">The deepest nesting accepted.</param>
    /// <returns>The body, a JSON object.</returns>
    /// <exception cref="ApiProblem">413 or 400.</exception>
    public static async Task<ApiRequestBody> ReadAsync(HttpContext context, int maxDepth)
    {
        var request = context.Request;
        if (request.ContentLength > MaxBodySize)
        {
            throw TooLarge();
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodySize;
        }

        // Content-Type is not checked: curl -d and many HTTP clients send JSON as text/plain or form data.
        using var buffer = new MemoryStream();
        try
        {
            await request.Body.CopyToAsync(buffer, context.RequestAborted);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge();
        }

        if (buffer.Length > MaxBodySize)
        {
            throw TooLarge();
        }

        try
        {
            using var document = JsonDocument.Parse(buffer.ToArray(), new JsonDocumentOptions { MaxDepth = maxDepth });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ApiProblem(StatusCodes.Status400BadRequest, "invalid_json", $"the body must be a JSON object (was {Kind(document.RootElement)})");
            }

            return new ApiRequestBody(document.RootElement.Clone());
        }
        catch (JsonException ex)
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "invalid_json", $"the body is not valid JSON: {ex.Message}");
        }
    }

    /// <summary>A required string member.</summary>
    public string RequiredString(string name) => OptionalString(name) ?? throw ApiProblem.Field($"'{name}' is required (a string)");

    /// <summary>A string member, or null when absent or null.</summary>
    public string? OptionalString(string name) => Member(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } value => value.GetString(),
        { } value => throw ApiProblem.Field($"'{name}' must be a string (was {Kind(value)})"),
    };

    /// <summary>A required JSON object member.</summary>
    public JsonElement RequiredObject(string name) => Member(name) switch
    {
        null => throw ApiProblem.Field($"'{name}' is required (a JSON object)"),
        { ValueKind: JsonValueKind.Object } value => value,
        { } value => throw ApiProblem.Field($"'{name}' must be a JSON object (was {Kind(value)})"),
    };

    /// <summary>A required member of any JSON type; the JSON <c>null</c> counts as present (only an absent member is missing).</summary>
    public JsonElement RequiredValue(string name) =>
        _root.TryGetProperty(name, out var value) ? value : throw ApiProblem.Field($"'{name}' is required (any JSON value)");

    /// <summary>
    /// A position member <c>{"epoch": string, "offset": integer}</c> (offset a non-negative integer below 2^53, as the
    /// protocol's <c>if</c>), or null when absent or null.
    /// </summary>
    public Lifeline.Protocol.Position? OptionalPosition(string name)
    {
        if (Member(name) is not { } value)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Object
            && value.TryGetProperty("epoch", out var epoch) && epoch.ValueKind == JsonValueKind.String
            && value.TryGetProperty("offset", out var offset) && offset.ValueKind == JsonValueKind.Number
            && offset.TryGetInt64(out var number) && number is >= 0 and < MaxSafeInteger
                ? new Lifeline.Protocol.Position(epoch.GetString()!, number)
                : throw ApiProblem.Field($"'{name}' must be {{\"epoch\": string, \"offset\": non-negative integer below 2^53}} (was {Kind(value)} {Truncate(value.GetRawText())})");
    }

    /// <summary>A whole-number member, or null when absent or null.</summary>
    public int? OptionalInt(string name) => Member(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } value when value.TryGetInt32(out var n) => n,
        { } value => throw ApiProblem.Field($"'{name}' must be a whole number (was {Kind(value)} {value.GetRawText()})"),
    };

    private const long MaxSafeInteger = 1L << 53;

    private static string Truncate(string text) => text.Length <= 80 ? text : text[..80] + "...";

    private JsonElement? Member(string name) =>
        _root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static string Kind(JsonElement value) => value.ValueKind.ToString().ToLower(CultureInfo.InvariantCulture);

    private static ApiProblem TooLarge() =>
        new(StatusCodes.Status413PayloadTooLarge, "too_large", string.Create(CultureInfo.InvariantCulture, $"the body is larger than {MaxBodySize} bytes"));
}
