using System.Security.Claims;

namespace Lifeline.Server;

/// <summary>
/// Takes the user from the application's ASP.NET Core authentication of the upgrade request (<c>HttpContext.User</c>,
/// set by a cookie, bearer or any other scheme run before the endpoint): its <see cref="ClaimTypes.NameIdentifier"/>
/// claim, else its <c>sub</c> claim. <c>hello.token</c> is ignored. An unauthenticated request is refused (4001
/// <c>unauthorized</c>) unless <see cref="AllowAnonymous"/> is set.
/// </summary>
public sealed class HttpContextUserAuthenticator : ILifelineAuthenticator
{
    /// <summary>When true, unauthenticated requests connect anonymously instead of being refused. The default is false.</summary>
    public bool AllowAnonymous { get; init; }

    /// <inheritdoc />
    public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var user = context.HttpContext.User;
        if (user.Identity?.IsAuthenticated == true)
        {
            var id = user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? user.FindFirst("sub")?.Value;
            if (!string.IsNullOrEmpty(id))
            {
                return ValueTask.FromResult(AuthenticationResult.Success(id));
            }
        }

        return ValueTask.FromResult(AllowAnonymous ? AuthenticationResult.Anonymous : AuthenticationResult.Fail(Protocol.CloseCode.Unauthorized.Reason));
    }
}
