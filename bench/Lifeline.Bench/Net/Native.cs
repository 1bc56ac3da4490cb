using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Lifeline.Bench.Net;

/// <summary>The few Linux calls the network workloads need: signals and network-namespace switching per thread.</summary>
internal static partial class Native
{
    public const int SigTerm = 15;
    private const int CloneNewNet = 0x40000000;

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
}
