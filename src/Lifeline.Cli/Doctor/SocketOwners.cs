using System.Globalization;

namespace Lifeline.Cli.Doctor;

/// <summary>A process that holds a socket open.</summary>
/// <param name="Pid">The process id.</param>
/// <param name="Command">Its command name (<c>/proc/PID/comm</c>).</param>
internal sealed record SocketOwner(int Pid, string Command)
{
    /// <inheritdoc />
    public override string ToString() => $"pid {Pid} ({Command})";
}

/// <summary>
/// Maps socket inodes to the processes that hold them, as <c>ss -p</c> does: every <c>/proc/PID/fd/N</c> link that reads
/// <c>socket:[INODE]</c>. Processes of other users are invisible without root; their sockets show no owner.
/// </summary>
internal static class SocketOwners
{
    /// <summary>Finds the owners of <paramref name="inodes"/>.</summary>
    /// <param name="inodes">The socket inodes wanted (others are not looked up).</param>
    /// <returns>Inode to owners (a socket shared across fork has several).</returns>
    public static IReadOnlyDictionary<long, IReadOnlyList<SocketOwner>> Find(IReadOnlySet<long> inodes)
    {
        var result = new Dictionary<long, List<SocketOwner>>();
        if (inodes.Count == 0 || !Directory.Exists("/proc"))
        {
            return new Dictionary<long, IReadOnlyList<SocketOwner>>();
        }

        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            IEnumerable<string> fds;
            try
            {
                fds = Directory.GetFiles(Path.Combine(dir, "fd"));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue; // exited meanwhile, or not ours to read
            }

            SocketOwner? owner = null;
            foreach (var fd in fds)
            {
                string? target;
                try
                {
                    target = new FileInfo(fd).LinkTarget;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    continue;
                }

                if (target is null || !target.StartsWith("socket:[", StringComparison.Ordinal)
                    || !long.TryParse(target.AsSpan(8, target.Length - 9), NumberStyles.None, CultureInfo.InvariantCulture, out var inode)
                    || !inodes.Contains(inode))
                {
                    continue;
                }

                owner ??= new SocketOwner(pid, ReadCommand(dir));
                if (!result.TryGetValue(inode, out var owners))
                {
                    result[inode] = owners = [];
                }

                if (!owners.Contains(owner))
                {
                    owners.Add(owner);
                }
            }
        }

        return result.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<SocketOwner>)kv.Value);
    }

    private static string ReadCommand(string procDir)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procDir, "comm")).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "?";
        }
    }
}
