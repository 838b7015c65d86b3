using System.Runtime.InteropServices;

namespace QRemote.Posix;

/// <summary>
/// The libc calls QRemote makes itself, in one place: .NET has no managed way to open a file with
/// <c>O_NOFOLLOW</c>, to append in one <c>write(2)</c>, to flock a file qmail's tools share, or to pass a
/// descriptor (SCM_RIGHTS). Constants are Linux x86-64's, the one target QRemote is published for
/// (<c>O_DIRECTORY</c> and <c>O_NOFOLLOW</c>, among others, differ on arm64: a port must revisit them).
/// </summary>
internal static unsafe partial class Libc
{
    public const int ORdonly = 0x0;
    public const int OWronly = 0x1;
    public const int ORdwr = 0x2;
    public const int OCreat = 0x40;
    public const int OExcl = 0x80;
    public const int OAppend = 0x400;
    public const int ONonblock = 0x800;
    public const int ODirectory = 0x10000;
    public const int ONofollow = 0x20000;
    public const int OCloexec = 0x80000;

    /// <summary>An unnamed file in the given directory (open(2)): it never has a name, so nothing is left behind.</summary>
    public const int OTmpfile = 0x400000 | ODirectory;

    /// <summary>Files QRemote creates (the log, the IPv6 tcpto file, MTA-STS cache files): rw-r----- before the umask,
    /// so qmailr's group may read them and nobody else (the reliability issue: 0600 or 0640).</summary>
    public const int Mode0640 = 0b110_100_000;

    /// <summary><see cref="Mode0640"/> for .NET's file APIs.</summary>
    public const UnixFileMode FileMode0640 = (UnixFileMode)Mode0640;

    public const int Mode0600 = 0b110_000_000;

    public const int Eintr = 4;
    public const int Eagain = 11;
    public const int Ewouldblock = Eagain;

    public const int LockEx = 2;
    public const int LockNb = 4;

    /// <summary>statx(2): with an empty path, the descriptor itself.</summary>
    public const int AtEmptyPath = 0x1000;
    public const uint StatxType = 0x1;
    public const uint StatxMode = 0x2;
    public const uint StatxNlink = 0x4;
    public const int SIfmt = 0xF000;
    public const int SIfreg = 0x8000;

    /// <summary>struct statx's first fields (its layout is the same on every architecture); the rest is room.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Statx
    {
        public uint Mask;
        public uint BlockSize;
        public ulong Attributes;
        public uint Nlink;
        public uint Uid;
        public uint Gid;
        public ushort Mode;
        private fixed byte _rest[256 - 30];
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    public static partial nint PRead(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    public static partial nint PWrite(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int FTruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int FLock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int StatX(int dirfd, string path, int flags, uint mask, Statx* buffer);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMsg(int socket, void* message, int flags);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    public static partial nint RecvMsg(int socket, void* message, int flags);

    /// <summary>True when <paramref name="fd"/> is a regular file with exactly one name: not a FIFO or a device someone
    /// put at the path, and not a hard link to a file elsewhere (O_NOFOLLOW stops symbolic links only).</summary>
    public static bool IsLoneRegularFile(int fd)
    {
        Statx buffer;
        if (StatX(fd, "", AtEmptyPath, StatxType | StatxMode | StatxNlink, &buffer) != 0)
        {
            return false;
        }

        return (buffer.Mode & SIfmt) == SIfreg && buffer.Nlink == 1;
    }

    /// <summary>
    /// Opens <paramref name="path"/> with <c>O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK</c> added to <paramref name="flags"/> and
    /// keeps it only if <see cref="IsLoneRegularFile"/>: a symbolic link, a hard link, a FIFO (which would block an open
    /// for writing) or a device planted at the path is never written through. Returns the descriptor, or -1.
    /// </summary>
    public static int OpenRegularNoFollow(string path, int flags, int mode = Mode0640)
    {
        var fd = Open(path, flags | ONofollow | OCloexec | ONonblock, mode);
        if (fd < 0)
        {
            return -1;
        }

        if (!IsLoneRegularFile(fd))
        {
            _ = Close(fd);
            return -1;
        }

        return fd;
    }
}
