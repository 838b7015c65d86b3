using System.Runtime.InteropServices;

namespace QRemote;

/// <summary>
/// Whether file descriptor 1 is a usable stdout. Started with fd 1 closed, the .NET runtime's own
/// start-up takes the lowest free descriptor for a file it reads (/dev/urandom), so by Main fd 1 is
/// open but read-only: a real stdout (qmail-rspawn's pipe, a terminal, a file) is always writable.
/// </summary>
internal static partial class StandardOutput
{
    private const int FGetfl = 3;
    private const int OAccmode = 3;
    private const int ORdonly = 0;

    public static bool IsWritable()
    {
        var flags = Fcntl(1, FGetfl);
        return flags >= 0 && (flags & OAccmode) != ORdonly;
    }

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command);
}
