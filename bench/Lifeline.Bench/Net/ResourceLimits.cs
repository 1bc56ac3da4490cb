using System.Runtime.InteropServices;

namespace Lifeline.Bench.Net;

/// <summary>Raises RLIMIT_NOFILE (soft and hard) for this process; the servers it starts inherit it.</summary>
internal static partial class ResourceLimits
{
    private const int RlimitNofile = 7; // Linux

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, out RLimit limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, in RLimit limit);

    /// <summary>The soft open-file limit after <see cref="RaiseOpenFiles"/> (0 before).</summary>
    public static ulong OpenFiles { get; private set; }

    /// <summary>
    /// How many connections one process can hold: the open-file limit less a margin for the runtime's own descriptors.
    /// The servers inherit the generator's limit, so this bounds both sides.
    /// </summary>
    public static int MaxConnections => OpenFiles == 0 ? int.MaxValue : (int)Math.Min(int.MaxValue, OpenFiles - Math.Min(OpenFiles / 2, 500UL));

    /// <summary>Raises the open-file limit towards <paramref name="wanted"/> (capped by /proc/sys/fs/nr_open); returns the soft limit now in force.</summary>
    public static ulong RaiseOpenFiles(ulong wanted)
    {
        if (!OperatingSystem.IsLinux() || getrlimit(RlimitNofile, out var limit) != 0)
        {
            return 0;
        }

        var nrOpen = ReadNrOpen();
        var target = Math.Min(wanted, nrOpen);
        if (limit.Current >= target)
        {
            OpenFiles = limit.Current;
            return limit.Current;
        }

        // Root may raise the hard limit up to nr_open; anyone may raise the soft limit up to the hard one.
        var raised = new RLimit { Current = target, Max = Math.Max(limit.Max, target) };
        if (setrlimit(RlimitNofile, raised) != 0)
        {
            raised = new RLimit { Current = Math.Min(target, limit.Max), Max = limit.Max };
            _ = setrlimit(RlimitNofile, raised);
        }

        OpenFiles = getrlimit(RlimitNofile, out limit) == 0 ? limit.Current : 0;
        return OpenFiles;
    }

    private static ulong ReadNrOpen()
    {
        try
        {
            return ulong.Parse(File.ReadAllText("/proc/sys/fs/nr_open").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 1 << 20;
        }
    }
}
