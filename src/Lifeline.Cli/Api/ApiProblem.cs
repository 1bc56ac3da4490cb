using Microsoft.AspNetCore.Http;

namespace Lifeline.Cli.Api;

/// <summary>
/// A refused API request, answered with an RFC 9457 problem document (<c>application/problem+json</c>): the HTTP
/// status, a <c>detail</c> that says what was wrong (naming the field) and a <c>code</c> extension
/// (<c>invalid_json</c>, <c>invalid_field</c>, <c>invalid_channel</c>, <c>too_large</c>, <c>unauthorized</c>,
/// <c>not_found</c>, or an error code of the protocol such as <c>forbidden</c>).
/// </summary>
internal sealed class ApiProblem : Exception
{
    public ApiProblem(int status, string code, string detail)
        : base(detail)
    {
        Status = status;
        Code = code;
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

    /// <summary>A 400 for a field that is missing or of the wrong type.</summary>
    public static ApiProblem Field(string detail) => new(StatusCodes.Status400BadRequest, "invalid_field", detail);

    /// <summary>The problem document.</summary>
    public IResult ToResult() => Results.Problem(
        detail: Message,
        statusCode: Status,
        extensions: new Dictionary<string, object?> { ["code"] = Code });
}
