using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Lifeline.NetLab;

/// <summary>The few Linux calls the lab needs: signals, the effective user, and network-namespace switching per thread.</summary>
public static partial class Native
{
    /// <summary>SIGKILL.</summary>
    public const int SigKill = 9;

    /// <summary>SIGTERM.</summary>
    public const int SigTerm = 15;

    private const int CloneNewNet = 0x40000000;

    /// <summary>True when this process runs as root (network namespaces and nftables need CAP_NET_ADMIN).</summary>
    public static bool IsRoot => geteuid() == 0;

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false when it failed (process gone).</summary>
    public static bool Signal(int pid, int signal) => kill(pid, signal) == 0;

    /// <summary>Moves the calling thread into the network namespace behind <paramref name="namespaceFile"/>.</summary>
    public static void EnterNetworkNamespace(SafeFileHandle namespaceFile)
    {
        if (setns(namespaceFile, CloneNewNet) != 0)
        {
            throw new IOException($"setns failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(SafeFileHandle fd, int nstype);

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
