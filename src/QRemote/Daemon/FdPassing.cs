using System.Net.Sockets;
using System.Runtime.InteropServices;
using QRemote.Posix;

namespace QRemote.Daemon;

/// <summary>
/// SCM_RIGHTS over a Unix stream socket (unix(7)): the delivery process hands the daemon its message file
/// descriptor, so the message is never copied. .NET's Socket has no managed way to send ancillary data:
/// sendmsg(2) and recvmsg(2) are called directly, blocking, on the socket's descriptor (used once per
/// delivery, for one small frame).
/// </summary>
internal static unsafe class FdPassing
{
    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CmsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    /// <summary>One cmsghdr with one int, aligned as CMSG_SPACE(sizeof(int)) on 64-bit Linux.</summary>
    private const int ControlSpace = 24;

    /// <summary>CMSG_LEN(sizeof(int)): the control length offered to recvmsg(2). The kernel installs as many descriptors
    /// as fit in (length - header) / sizeof(int): with <see cref="ControlSpace"/> that would be two (the alignment
    /// leaves room for a second int), so a peer sending two made the daemon hold one it never looked at.
    /// With this length, one; the kernel closes the rest and sets MSG_CTRUNC.</summary>
    private const int ReceiveControlLength = 20;

    /// <summary>Sends <paramref name="payload"/> with <paramref name="fd"/> attached. Throws <see cref="SocketException"/> on failure.</summary>
    public static void Send(Socket socket, ReadOnlySpan<byte> payload, int fd) => Send(socket, payload, [fd]);

    /// <summary>Sends <paramref name="payload"/> with every descriptor of <paramref name="fds"/> in one SCM_RIGHTS message
    /// (QRemote sends one; tests send more, as a hostile peer would).</summary>
    internal static void Send(Socket socket, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds)
    {
        Send((int)socket.Handle, payload, fds, socket);
    }

    /// <summary>The same on a blocking descriptor of one's own (the hand-over's client): EAGAIN there is SO_SNDTIMEO
    /// expiring, a <see cref="SocketException"/>.</summary>
    public static void Send(int socketFd, ReadOnlySpan<byte> payload, int fd) => Send(socketFd, payload, [fd], null);

    private static void Send(int socketFd, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds, Socket? socket)
    {
        var space = sizeof(CmsgHdr) + ((fds.Length * sizeof(int) + 7) & ~7);
        var control = stackalloc byte[space];
        new Span<byte>(control, space).Clear();
        var header = (CmsgHdr*)control;
        header->Length = (nuint)(sizeof(CmsgHdr) + fds.Length * sizeof(int));
        header->Level = Libc.SolSocket;
        header->Type = Libc.ScmRights;
        fds.CopyTo(new Span<int>(control + sizeof(CmsgHdr), fds.Length));
        var sent = 0;
        fixed (byte* data = payload)
        {
            while (sent < payload.Length)
            {
                var iov = new IoVec { Base = data + sent, Length = (nuint)(payload.Length - sent) };
                var msg = new MsgHdr { Iov = &iov, IovLength = 1, Control = sent == 0 ? control : null, ControlLength = sent == 0 ? (nuint)space : 0 };
                var n = Libc.SendMsg(socketFd, &msg, 0);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.Eintr)
                    {
                        continue;
                    }

                    if (errno == Libc.Eagain && socket is not null)
                    {
                        // .NET keeps its sockets non-blocking underneath.
                        socket.Poll(1_000_000, SelectMode.SelectWrite);
                        continue;
                    }

                    throw new SocketException(errno);
                }

                sent += (int)n;
            }
        }
    }

    /// <summary>Reads up to <paramref name="buffer"/>'s length; returns the bytes read and the descriptor that came
    /// with them (-1 when none). Close-on-exec is set on a received descriptor. More than one descriptor (MSG_CTRUNC,
    /// or a control message holding several) is refused: every one received is closed and <paramref name="fd"/> is -1,
    /// which the daemon answers by closing the connection (the process then delivers by itself).</summary>
    /// <param name="timeout">Microseconds to wait for data.</param>
    public static int Receive(Socket socket, Span<byte> buffer, out int fd, int timeout = 5_000_000)
    {
        fd = -1;
        var control = stackalloc byte[ControlSpace];
        new Span<byte>(control, ControlSpace).Clear();
        fixed (byte* data = buffer)
        {
            var iov = new IoVec { Base = data, Length = (nuint)buffer.Length };
            var msg = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = ReceiveControlLength };
            nint n;
            while (true)
            {
                n = Libc.RecvMsg((int)socket.Handle, &msg, Libc.MsgCmsgCloexec);
                var errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
                if (errno == Libc.Eintr)
                {
                    continue;
                }

                if (errno == Libc.Eagain)
                {
                    // Wait for data (the caller bounds the whole exchange with its own timeout).
                    if (!socket.Poll(timeout, SelectMode.SelectRead))
                    {
                        throw new SocketException((int)SocketError.TimedOut);
                    }

                    continue;
                }

                break;
            }

            if (n < 0)
            {
                throw new SocketException(Marshal.GetLastPInvokeError());
            }

            var header = (CmsgHdr*)control;
            if (msg.ControlLength >= (nuint)(sizeof(CmsgHdr) + sizeof(int)) && header->Level == Libc.SolSocket && header->Type == Libc.ScmRights
                && header->Length <= msg.ControlLength)
            {
                // Every descriptor the header says it holds (one, with the length offered; more only if the kernel
                // ever gave more): each one is now ours to close.
                var received = (int)((header->Length - (nuint)sizeof(CmsgHdr)) / sizeof(int));
                var fds = new ReadOnlySpan<int>(control + sizeof(CmsgHdr), received);
                if (received == 1 && (msg.Flags & Libc.MsgCtrunc) == 0)
                {
                    fd = fds[0];
                    return (int)n;
                }

                foreach (var extra in fds)
                {
                    _ = Libc.Close(extra);
                }
            }

            return (int)n;
        }
    }
}
