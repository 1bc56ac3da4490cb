using Microsoft.AspNetCore.Http;

namespace Lifeline.Cli.Api;

/// <summary>
/// A refused API request, answered with an RFC 9457 problem document (<c>application/problem+json</c>): the HTTP
/// status, a <c>detail</c> that says what was wrong (naming the field) and a <c>code</c> extension
/// (<c>invalid_json</c>, <c>invalid_field</c>, <c>invalid_channel</c>, <c>too_large</c>, <c>unauthorized</c>,
/// <c>not_found</c>, or an error code of the protocol such as <c>forbidden</c> or <c>conflict</c>; a conflict also carries
/// the channel's current <c>epoch</c> and <c>offset</c>).
/// </summary>
internal sealed class ApiProblem : Exception
{
    public ApiProblem(int status, string code, string detail)
        : base(detail)
    {
        Status = status;
        Code = code;
    }

    /// <summary>A 409 conflict carrying the channel's current position (the problem's <c>epoch</c> and <c>offset</c> members).</summary>
    public ApiProblem(int status, string code, string detail, Lifeline.Protocol.Position current)
        : this(status, code, detail)
    {
        Current = current;
    }

    public ApiProblem()
    {
        Status = StatusCodes.Status400BadRequest;
        Code = "invalid_request";
    }

    public ApiProblem(string message)
        : this(StatusCodes.Status400BadRequest, "invalid_request", message)
    {
    }

    public ApiProblem(string message, Exception innerException)
        : base(message, innerException)
    {
        Status = StatusCodes.Status400BadRequest;
        Code = "invalid_request";
    }

    /// <summary>The HTTP status.</summary>
    public int Status { get; }

    /// <summary>The machine-readable reason (the problem's <c>code</c> member).</summary>
    public string Code { get; }

    /// <summary>For a conflict: the channel's current position; null otherwise.</summary>
    public Lifeline.Protocol.Position? Current { get; }

    /// <summary>A 400 for a field that is missing or of the wrong type.</summary>
    public static ApiProblem Field(string detail) => new(StatusCodes.Status400BadRequest, "invalid_field", detail);

    /// <summary>The problem document.</summary>
    public IResult ToResult()
    {
        var extensions = new Dictionary<string, object?> { ["code"] = Code };
        if (Current is not null)
        {
            extensions["epoch"] = Current.Epoch;
            extensions["offset"] = Current.Offset;
        }

        return Results.Problem(detail: Message, statusCode: Status, extensions: extensions);
    }
}
