using System.Net.Sockets;
using QRemote.Posix;

namespace QRemote.Daemon;

/// <summary>
/// Who may be on the other end of the daemon's socket. The client hands over the queue file's descriptor (it can be
/// read through it) and takes the report it gets back as qmail-send's truth; the daemon takes requests that say what
/// to deliver. So each side believes only a peer running as its own user or as root (SO_PEERCRED), through a socket
/// in a directory nobody else can write (else another user could put their own socket there first).
/// </summary>
internal static class SocketTrust
{
    /// <summary>Null when the peer is this process's user or root; else why not.</summary>
    public static string? PeerProblem(Socket socket)
    {
        Span<byte> credentials = stackalloc byte[12]; // struct ucred: pid, uid, gid
        try
        {
            if (socket.GetRawSocketOption(Libc.SolSocket, Libc.SoPeerCred, credentials) != 12)
            {
                return "the peer's credentials could not be read";
            }
        }
        catch (SocketException e)
        {
            return $"the peer's credentials could not be read: {e.Message}";
        }

        return UidProblem(BitConverter.ToUInt32(credentials[4..8]));
    }

    /// <summary>The same for a socket descriptor of one's own (the hand-over's client, which has no <see cref="Socket"/>).</summary>
    public static unsafe string? PeerProblem(int socketFd)
    {
        var credentials = stackalloc uint[3]; // struct ucred: pid, uid, gid
        var length = 12;
        if (Libc.GetSockOpt(socketFd, Libc.SolSocket, Libc.SoPeerCred, credentials, &length) != 0 || length != 12)
        {
            return "the peer's credentials could not be read";
        }

        return UidProblem(credentials[1]);
    }

    private static string? UidProblem(uint uid) =>
        Trusted(uid) ? null : $"the peer runs as uid {uid}, neither this process's user ({Libc.Geteuid()}) nor root";

    /// <summary>Null when <paramref name="socketPath"/>'s directory is a directory of this user's or root's that
    /// neither its group nor others can write; else why not.</summary>
    public static string? DirectoryProblem(string socketPath)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(socketPath));
        if (string.IsNullOrEmpty(directory))
        {
            return "the socket has no directory";
        }

        if (LStat(directory) is not var (mode, uid))
        {
            return $"{directory} cannot be examined";
        }

        if ((mode & Libc.SIfmt) != Libc.SIfdir)
        {
            return $"{directory} is not a directory";
        }

        if (!Trusted(uid))
        {
            return $"{directory} belongs to uid {uid}, neither this process's user nor root";
        }

        return (mode & 0b000_010_010) != 0 ? $"{directory} is writable by its group or by others" : null;
    }

    /// <summary>What is at <paramref name="path"/>, never following a symbolic link.</summary>
    public static (bool Exists, bool IsOwnSocket) Examine(string path)
    {
        if (LStat(path) is not var (mode, uid))
        {
            return (File.Exists(path) || Directory.Exists(path) || IsDanglingLink(path), false);
        }

        return (true, (mode & Libc.SIfmt) == Libc.SIfsock && Trusted(uid));
    }

    private static bool IsDanglingLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static bool Trusted(uint uid) => uid == 0 || uid == Libc.Geteuid();

    /// <summary>lstat(2): the file type and mode bits, and the owner. x86-64 glibc's struct stat (the binary is built
    /// for linux-x64 only): st_mode at 24, st_uid at 28, 144 bytes in all.</summary>
    private static unsafe (uint Mode, uint Uid)? LStat(string path)
    {
        var buffer = stackalloc byte[256];
        if (Libc.Lstat(path, buffer) != 0)
        {
            return null;
        }

        return (*(uint*)(buffer + 24), *(uint*)(buffer + 28));
    }
}
