using QRemote.Posix;

namespace QRemote;

/// <summary>
/// Whether file descriptor 1 is a usable stdout. Started with fd 1 closed, the .NET runtime's own
/// start-up takes the lowest free descriptor for a file it reads (/dev/urandom), so by Main fd 1 is
/// open but read-only: a real stdout (qmail-rspawn's pipe, a terminal, a file) is always writable.
/// </summary>
internal static class StandardOutput
{
    public static bool IsWritable()
    {
        var flags = Libc.Fcntl(1, Libc.FGetfl);
        return flags >= 0 && (flags & Libc.OAccmode) != Libc.ORdonly;
    }
}
