using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using QRemote.Posix;
using QRemote.Qmail;

namespace QRemote.Daemon;

/// <summary>The delivery process's side of <see cref="DaemonProtocol"/>. Blocking calls on a descriptor of its own, with
/// socket timeouts, on purpose: the process that hands over does nothing else, and an awaited socket would start the
/// thread pool, the timer thread and the sockets' epoll thread for one small exchange (docs/performance.md; even
/// <c>new Socket(...)</c> starts the epoll engine). A signal still ends it at once: cancelling shuts the socket down,
/// which ends the call that waits.</summary>
internal static unsafe partial class DaemonClient
{
    /// <summary>The daemon must connect and accept a delivery within this (docs/daemon.md), or the process
    /// delivers by itself.</summary>
    public static readonly TimeSpan AcceptLimit = TimeSpan.FromSeconds(2);

    public static DaemonResult Deliver(string socketPath, DaemonRequest request, int messageFd, CancellationToken cancellationToken) =>
        Deliver(socketPath, request, messageFd, DaemonProtocol.SilenceLimit, cancellationToken);

    /// <param name="silenceLimit">How long the daemon may say nothing (tests shorten it).</param>
    public static DaemonResult Deliver(string socketPath, DaemonRequest request, int messageFd, TimeSpan silenceLimit,
        CancellationToken cancellationToken)
    {
        if (SocketTrust.DirectoryProblem(socketPath) is { } badDirectory)
        {
            return new(DaemonOutcome.NotUsed, null, badDirectory);
        }

        var socket = Libc.Socket(Libc.AfUnix, Libc.SockStream | Libc.SockCloexec, 0);
        if (socket < 0)
        {
            return new(DaemonOutcome.NotUsed, null, new SocketException(Marshal.GetLastPInvokeError()).Message);
        }

        try
        {
            return Deliver(socket, socketPath, request, messageFd, silenceLimit, cancellationToken);
        }
        finally
        {
            _ = Libc.Close(socket);
        }
    }

    private static DaemonResult Deliver(int socket, string socketPath, DaemonRequest request, int messageFd, TimeSpan silenceLimit,
        CancellationToken cancellationToken)
    {
        // Disposed before the descriptor is closed: it waits for a shutdown under way, so none can hit a reused number.
        using var stopping = cancellationToken.Register(static s => _ = Libc.Shutdown((int)s!, Libc.ShutRdWr), socket);
        var acceptBy = TimeProvider.System.GetTimestamp() + (long)(AcceptLimit.TotalSeconds * TimeProvider.System.TimestampFrequency);
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            // connect(2) on a Unix socket whose backlog is full waits at most SO_SNDTIMEO; sends too.
            SetTimeout(socket, Libc.SoSndTimeo, AcceptLimit);
            Connect(socket, socketPath);
            if (SocketTrust.PeerProblem(socket) is { } badPeer)
            {
                // Checked before the descriptor goes: an impostor must not read the queue file.
                return new(DaemonOutcome.NotUsed, null, badPeer);
            }

            FdPassing.Send(socket, DaemonProtocol.EncodeRequest(request), messageFd);
            var first = ReadByte(socket, Until(acceptBy), allowEnd: true);
            if (first != DaemonProtocol.Accepted)
            {
                // A signal shuts the socket down, which reads as the end of the stream here.
                cancellationToken.ThrowIfCancellationRequested();
                return new(DaemonOutcome.NotUsed, null, first < 0 ? "the daemon closed the connection" : "the daemon refused");
            }

            SendByte(socket, DaemonProtocol.Go);
        }
        catch (Exception e) when (e is SocketException or EndOfStreamException or TimeoutException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return new(DaemonOutcome.NotUsed, null, e is TimeoutException ? $"no answer from the daemon within {AcceptLimit.TotalSeconds:0}s" : e.Message);
        }

        // From here the daemon delivers. Until this process confirms the commit, the daemon can send nothing that counts,
        // so any end before it (silence, a broken socket, a signal) means: deliver here, or report a plain Z.
        var committed = false;
        try
        {
            while (true)
            {
                var frame = ReadByte(socket, silenceLimit, allowEnd: false);
                switch (frame)
                {
                    case DaemonProtocol.Alive:
                        continue;
                    case DaemonProtocol.Committing when !committed:
                        SendByte(socket, DaemonProtocol.Confirm);
                        committed = true;
                        continue;
                    case DaemonProtocol.Report:
                        if (ReadReport(socket, silenceLimit) is { } report)
                        {
                            return new(DaemonOutcome.Reported, report, "");
                        }

                        break;
                }

                break;
            }
        }
        catch (Exception e) when (e is SocketException or EndOfStreamException or TimeoutException)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                if (committed)
                {
                    return new(DaemonOutcome.Unknown, null, "stopped while the daemon was sending the message");
                }

                throw new OperationCanceledException(cancellationToken);
            }
        }

        return committed
            ? new(DaemonOutcome.Unknown, null, "the daemon was lost while sending the message")
            : new(DaemonOutcome.NotUsed, null, "the daemon was lost before sending the message");
    }

    private static void Connect(int socket, string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path);
        if (bytes.Length > Libc.SunPathLength - 1)
        {
            // As UnixDomainSocketEndPoint refused it.
            throw new ArgumentOutOfRangeException(nameof(path), "the daemon's socket path is too long");
        }

        var address = stackalloc byte[2 + Libc.SunPathLength];
        new Span<byte>(address, 2 + Libc.SunPathLength).Clear();
        *(ushort*)address = Libc.AfUnix;
        bytes.CopyTo(new Span<byte>(address + 2, bytes.Length));
        while (Libc.Connect(socket, address, 2 + bytes.Length + 1) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Libc.Eintr)
            {
                throw errno == Libc.Eagain ? new TimeoutException() : new SocketException(errno);
            }
        }
    }

    private static TimeSpan Until(long deadline) =>
        TimeSpan.FromSeconds(Math.Max(0, deadline - TimeProvider.System.GetTimestamp()) / (double)TimeProvider.System.TimestampFrequency);

    /// <summary>SO_RCVTIMEO/SO_SNDTIMEO; at least 1 ms (0 would mean: wait for ever).</summary>
    private static void SetTimeout(int socket, int option, TimeSpan limit)
    {
        var microseconds = Math.Max(1000L, (long)Math.Ceiling(limit.TotalMicroseconds));
        var timeval = stackalloc long[2] { microseconds / 1_000_000, microseconds % 1_000_000 };
        if (Libc.SetSockOpt(socket, Libc.SolSocket, option, timeval, 2 * sizeof(long)) != 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
    }

    private static DeliveryReport? ReadReport(int socket, TimeSpan silenceLimit)
    {
        var head = new byte[4];
        ReadExactly(socket, head, silenceLimit);
        var length = BinaryPrimitives.ReadInt32BigEndian(head);
        if (length is < 2 or > 1 << 24)
        {
            return null;
        }

        var bytes = new byte[length];
        ReadExactly(socket, bytes, silenceLimit);
        return ReportWriter.Parse(bytes);
    }

    /// <summary>One byte; -1 at the end of the stream when <paramref name="allowEnd"/>, else <see cref="EndOfStreamException"/>.</summary>
    private static int ReadByte(int socket, TimeSpan silenceLimit, bool allowEnd)
    {
        byte one = 0;
        if (Receive(socket, new Span<byte>(&one, 1), silenceLimit) == 0)
        {
            return allowEnd ? -1 : throw new EndOfStreamException();
        }

        return one;
    }

    /// <summary>Fills the buffer; <see cref="TimeoutException"/> after <paramref name="silenceLimit"/> without a byte.</summary>
    private static void ReadExactly(int socket, byte[] buffer, TimeSpan silenceLimit)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = Receive(socket, buffer.AsSpan(read), silenceLimit);
            if (n == 0)
            {
                throw new EndOfStreamException();
            }

            read += n;
        }
    }

    private static int Receive(int socket, Span<byte> buffer, TimeSpan silenceLimit)
    {
        SetTimeout(socket, Libc.SoRcvTimeo, silenceLimit);
        fixed (byte* data = buffer)
        {
            while (true)
            {
                var n = Libc.Recv(socket, data, (nuint)buffer.Length, 0);
                if (n >= 0)
                {
                    return (int)n;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.Eagain)
                {
                    throw new TimeoutException($"the daemon said nothing for {silenceLimit.TotalSeconds:0}s");
                }

                if (errno != Libc.Eintr)
                {
                    throw new SocketException(errno);
                }
            }
        }
    }

    private static void SendByte(int socket, byte value)
    {
        while (Libc.Send(socket, &value, 1, Libc.MsgNoSignal) != 1)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Libc.Eintr)
            {
                throw errno == Libc.Eagain ? new TimeoutException() : new SocketException(errno);
            }
        }
    }
}
