using System.Runtime.InteropServices;
using System.Text.Json;
using Lifeline.Protocol;

namespace Lifeline.Server.Channels;

/// <summary>A refused publish: the error code of PROTOCOL.md and a message for the publisher.</summary>
/// <param name="Code">The error code (<see cref="ErrorCodes"/>).</param>
/// <param name="Message">What is wrong.</param>
internal sealed record PublishProblem(string Code, string Message);

/// <summary>
/// The one rule set for a publish's content, whoever publishes (a client's <c>publish</c> or
/// <see cref="LifelineServer.PublishAsync"/>): the patch is a JSON object, at most
/// <see cref="LifelineOptions.MaxPatchSize"/> UTF-8 bytes, nested at most <see cref="LifelineOptions.MaxJsonDepth"/> - 1
/// levels (what a client's publish message can carry within <see cref="LifelineOptions.MaxJsonDepth"/>), and its key,
/// when given, 1 to <see cref="ProtocolConstants.MaxKeyLength"/> characters. The channel name and the application's
/// <see cref="IChannelPolicy"/> are checked by the caller, as for every other request.
/// </summary>
/// <param name="options">The limits.</param>
internal sealed class PublishValidator(LifelineOptions options)
{
    /// <summary>Checks a publish; null when it may go on.</summary>
    /// <param name="patch">The merge patch.</param>
    /// <param name="key">The idempotency key, or null.</param>
    /// <returns>The problem, or null.</returns>
    public PublishProblem? Validate(JsonElement patch, string? key)
    {
        if (patch.ValueKind != JsonValueKind.Object)
        {
            return new PublishProblem(ErrorCodes.InvalidMessage, "patch must be a JSON object");
        }

        var raw = JsonMarshal.GetRawUtf8Value(patch);
        if (raw.Length > options.MaxPatchSize)
        {
            return new PublishProblem(ErrorCodes.LimitExceeded, $"patch is larger than {options.MaxPatchSize} bytes");
        }

        if (!WithinDepth(raw, options.MaxJsonDepth - 1))
        {
            return new PublishProblem(ErrorCodes.LimitExceeded, $"patch is nested deeper than {options.MaxJsonDepth - 1} levels");
        }

        if (key is { Length: 0 or > ProtocolConstants.MaxKeyLength })
        {
            return new PublishProblem(ErrorCodes.LimitExceeded, $"key must be 1 to {ProtocolConstants.MaxKeyLength} characters");
        }

        return null;
    }

    /// <summary>
    /// Checks an event's data (a client's <c>emit</c> or <see cref="LifelineServer.EmitAsync"/>) and a user message's
    /// (<see cref="LifelineServer.SendToUserAsync"/>): any JSON value, <c>null</c> included, of at most
    /// <see cref="LifelineOptions.MaxPatchSize"/> UTF-8 bytes nested at most <see cref="LifelineOptions.MaxJsonDepth"/> - 1
    /// levels: the limits of a patch. Null when it may go on.
    /// </summary>
    /// <param name="data">The data.</param>
    /// <returns>The problem, or null.</returns>
    public PublishProblem? ValidateData(JsonElement data)
    {
        if (data.ValueKind == JsonValueKind.Undefined)
        {
            return new PublishProblem(ErrorCodes.InvalidMessage, "data is required (any JSON value)");
        }

        var raw = JsonMarshal.GetRawUtf8Value(data);
        if (raw.Length > options.MaxPatchSize)
        {
            return new PublishProblem(ErrorCodes.LimitExceeded, $"data is larger than {options.MaxPatchSize} bytes");
        }

        if (!WithinDepth(raw, options.MaxJsonDepth - 1))
        {
            return new PublishProblem(ErrorCodes.LimitExceeded, $"data is nested deeper than {options.MaxJsonDepth - 1} levels");
        }

        return null;
    }

    private static bool WithinDepth(ReadOnlySpan<byte> json, int maxDepth)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = Math.Max(1, maxDepth) });
        try
        {
            while (reader.Read())
            {
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
