using System.Runtime.InteropServices;

namespace QRemote.Posix;

/// <summary>
/// The libc calls QRemote makes itself, in one place: .NET has no managed way to open a file with
/// <c>O_NOFOLLOW</c>, to append in one <c>write(2)</c>, to flock a file qmail's tools share, to pass a
/// descriptor (SCM_RIGHTS), to set the native environment (setenv), to read the kernel's entropy without
/// loading OpenSSL (getrandom), to examine a socket's directory without following links (lstat), or to list this
/// host's addresses without reading a dozen files per interface (getifaddrs).
/// Constants are Linux x86-64's, the one target QRemote is published for
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
    /// so qmailr's group may read them and nobody else.</summary>
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
    public const int SIfdir = 0x4000;
    public const int SIfsock = 0xC000;

    /// <summary>fcntl(2): read the file status flags; the access mode is their low two bits.</summary>
    public const int FGetfl = 3;
    public const int OAccmode = 3;

    /// <summary>Socket options and ancillary data (socket(7), unix(7)).</summary>
    public const int SolSocket = 1;
    public const int SoPeerCred = 17;
    public const int ScmRights = 1;
    public const int MsgCtrunc = 0x8;
    public const int MsgCmsgCloexec = 0x40000000;
    public const int MsgNoSignal = 0x4000;
    public const ushort AfUnix = 1;
    public const int SockStream = 1;
    public const int SockCloexec = 0x80000;
    public const int SoRcvTimeo = 20;
    public const int SoSndTimeo = 21;
    public const int ShutRdWr = 2;

    /// <summary>struct sockaddr_un's sun_path length.</summary>
    public const int SunPathLength = 108;

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

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    public static partial int Connect(int fd, byte* address, int length);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOpt(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    public static partial int GetSockOpt(int fd, int level, int name, void* value, int* length);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "shutdown")]
    public static partial int Shutdown(int fd, int how);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int command);

    /// <summary>lstat(2) into a buffer of at least 144 bytes (x86-64 glibc's struct stat).</summary>
    [LibraryImport("libc", EntryPoint = "lstat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Lstat(string path, byte* buffer);

    /// <summary>umask(2): the daemon binds its socket under 0077, so it is never connectable by others, even briefly.</summary>
    [LibraryImport("libc", EntryPoint = "umask")]
    public static partial int Umask(int mask);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint Geteuid();

    /// <summary>setenv(3) in the native environment, which <c>Environment.SetEnvironmentVariable</c> does not reach.</summary>
    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "getrandom")]
    public static partial nint GetRandom(void* buffer, nuint length, uint flags);

    /// <summary>getifaddrs(3): every address of every interface, the list .NET's NetworkInterface is built from, without
    /// the files (/proc/net/*, /sys/class/net/*, resolv.conf) it reads for each interface's other properties.</summary>
    [LibraryImport("libc", EntryPoint = "getifaddrs", SetLastError = true)]
    public static partial int GetIfAddrs(IfAddrs** list);

    [LibraryImport("libc", EntryPoint = "freeifaddrs")]
    public static partial void FreeIfAddrs(IfAddrs* list);

    public const ushort AfInet = 2;
    public const ushort AfInet6 = 10;

    /// <summary>struct ifaddrs (getifaddrs(3)), the fields up to the address QRemote reads.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IfAddrs
    {
        public IfAddrs* Next;
        public byte* Name;
        public uint Flags;
        public byte* Address;
    }

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
