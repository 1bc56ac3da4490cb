namespace Lifeline.Cli;

/// <summary>The exit codes of <c>lifeline</c>.</summary>
internal static class ExitCodes
{
    /// <summary>Done; for <c>serve</c>: stopped gracefully (SIGTERM, Ctrl+C).</summary>
    public const int Success = 0;

    /// <summary>The command line did not parse (System.CommandLine's own code for parse errors).</summary>
    public const int UsageError = 1;

    /// <summary>A setting from configuration or the command line cannot be used.</summary>
    public const int BadSettings = 2;

    /// <summary>The server could not listen (address in use, no permission).</summary>
    public const int CannotListen = 3;

    /// <summary><c>doctor</c>: a problem was found (lasting CLOSE_WAIT, nothing listening, metrics unreachable or alarming).</summary>
    public const int DoctorFoundProblems = 4;

    /// <summary><c>check-proxy</c> found settings that will cut or break WebSocket connections.</summary>
    public const int ProxyProblems = 4;
}
