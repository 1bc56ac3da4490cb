using System.Security.Claims;
using Lifeline.Samples.EmbeddedApp;
using Lifeline.Server;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;

// An ASP.NET Core app that embeds Lifeline: the user signs in with the app's own cookie, the WebSocket upgrade carries
// that cookie, HttpContextUserAuthenticator takes the user from it, and RoomsAndOwnChannelPolicy decides what the user
// may do with each channel.
var builder = WebApplication.CreateBuilder(args);

builder.Services
    .AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
    .AddCookie(o =>
    {
        o.Cookie.Name = "embedded.auth";
        o.Cookie.HttpOnly = true;
        o.Cookie.SameSite = SameSiteMode.Lax;
        // An API answers 401 rather than redirecting to a login page.
        o.Events.OnRedirectToLogin = context =>
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Task.CompletedTask;
        };
    });
builder.Services.AddAuthorization();

builder.Services.AddLifeline();
// The user of a connection is the cookie's user (ClaimTypes.NameIdentifier); without a cookie the upgrade is refused (4001).
builder.Services.AddSingleton<ILifelineAuthenticator>(new HttpContextUserAuthenticator());
builder.Services.AddSingleton<IChannelPolicy, RoomsAndOwnChannelPolicy>();

var app = builder.Build();
app.UseAuthentication();
app.UseAuthorization();

// A demo sign-in: any well-formed user id, no password. Replace it with your real sign-in (Identity, OpenID Connect...).
app.MapPost("/login", async (HttpContext http, LoginRequest request) =>
{
    if (!UserIds.IsValid(request.User))
    {
        return Results.Problem(statusCode: StatusCodes.Status400BadRequest, detail: $"'user' must be 1 to {UserIds.MaxLength} letters, digits, '-' or '_'");
    }

    var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, request.User)], CookieAuthenticationDefaults.AuthenticationScheme);
    await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
    return Results.NoContent();
});

app.MapPost("/logout", async (HttpContext http) =>
{
    await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
    return Results.NoContent();
});

// The signed-in user, for pages and scripts.
app.MapGet("/me", (ClaimsPrincipal user) => Results.Json(new { user = user.FindFirstValue(ClaimTypes.NameIdentifier) }))
    .RequireAuthorization();

// The application's own code may publish anywhere (the policy allows requests without a connection): here, a
// signed-in user posts an announcement that the server writes to a room on their behalf.
app.MapPost("/rooms/{room}/announce", async (string room, ClaimsPrincipal user, LifelineServer lifeline, Announcement body) =>
{
    var patch = System.Text.Json.JsonSerializer.SerializeToElement(new { announcement = body.Text, by = user.FindFirstValue(ClaimTypes.NameIdentifier) });
    var result = await lifeline.PublishAsync("room:" + room, patch);
    return Results.Json(new { offset = result.Offset });
}).RequireAuthorization();

// The WebSocket (and the HTTP transport beside it) at /ws, after authentication so HttpContext.User is set.
app.MapLifeline("/ws");

app.MapGet("/", () => Results.Text(
    "Lifeline embedded sample: POST /login {\"user\":\"alice\"}, then connect a Lifeline client to /ws with the cookie.\n"));

app.Run();

/// <summary>The body of <c>POST /login</c>.</summary>
/// <param name="User">The user id to sign in as.</param>
internal sealed record LoginRequest(string User);

/// <summary>The body of <c>POST /rooms/{room}/announce</c>.</summary>
/// <param name="Text">The announcement.</param>
internal sealed record Announcement(string Text);
