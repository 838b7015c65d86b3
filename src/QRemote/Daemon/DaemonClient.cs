using System.Buffers.Binary;
using System.Net.Sockets;
using QRemote.Qmail;

namespace QRemote.Daemon;

/// <summary>How a hand-over to the daemon ended.</summary>
internal enum DaemonOutcome
{
    /// <summary>The daemon did not take the delivery (absent, refused, untrusted, slow, silent, or gone before the
    /// client confirmed the commit): the process delivers by itself; nothing that counts was sent.</summary>
    NotUsed,
    /// <summary>The daemon delivered and reported.</summary>
    Reported,
    /// <summary>The daemon was lost after the client confirmed the commit: the outcome is unknown (Z).</summary>
    Unknown,
}

internal sealed record DaemonResult(DaemonOutcome Outcome, DeliveryReport? Report, string Why);

/// <summary>The delivery process's side of <see cref="DaemonProtocol"/>. Blocking calls with socket timeouts, on purpose:
/// the process that hands over does nothing else, and an awaited socket would start the thread pool, the socket
/// engine's epoll thread and the timer thread for one small exchange (docs/performance.md: a third of the process's
/// CPU). A signal still ends it at once: cancelling closes the socket, which ends the blocking call that waits.</summary>
internal static class DaemonClient
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

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var stopping = cancellationToken.Register(static s => ((Socket)s!).Dispose(), socket);
        var acceptBy = TimeProvider.System.GetTimestamp() + (long)(AcceptLimit.TotalSeconds * TimeProvider.System.TimestampFrequency);
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            // connect(2) on a Unix socket whose backlog is full waits at most SO_SNDTIMEO.
            socket.SendTimeout = Milliseconds(AcceptLimit);
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            if (SocketTrust.PeerProblem(socket) is { } badPeer)
            {
                // Checked before the descriptor goes: an impostor must not read the queue file.
                return new(DaemonOutcome.NotUsed, null, badPeer);
            }

            FdPassing.Send(socket, DaemonProtocol.EncodeRequest(request), messageFd);
            var first = ReadByte(socket, Until(acceptBy), allowEnd: true);
            if (first != DaemonProtocol.Accepted)
            {
                return new(DaemonOutcome.NotUsed, null, first < 0 ? "the daemon closed the connection" : "the daemon refused");
            }

            socket.Send([DaemonProtocol.Go]);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException or TimeoutException)
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
                        socket.Send([DaemonProtocol.Confirm]);
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
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException or EndOfStreamException or TimeoutException)
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

    private static TimeSpan Until(long deadline) =>
        TimeSpan.FromSeconds(Math.Max(0, deadline - TimeProvider.System.GetTimestamp()) / (double)TimeProvider.System.TimestampFrequency);

    /// <summary>SO_RCVTIMEO/SO_SNDTIMEO in milliseconds; at least 1 (0 would mean: wait for ever).</summary>
    private static int Milliseconds(TimeSpan limit) => (int)Math.Clamp(Math.Ceiling(limit.TotalMilliseconds), 1, int.MaxValue);

    private static DeliveryReport? ReadReport(Socket socket, TimeSpan silenceLimit)
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
    private static int ReadByte(Socket socket, TimeSpan silenceLimit, bool allowEnd)
    {
        var one = new byte[1];
        if (Receive(socket, one, silenceLimit) == 0)
        {
            return allowEnd ? -1 : throw new EndOfStreamException();
        }

        return one[0];
    }

    /// <summary>Fills the buffer; <see cref="TimeoutException"/> after <paramref name="silenceLimit"/> without a byte.</summary>
    private static void ReadExactly(Socket socket, byte[] buffer, TimeSpan silenceLimit)
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

    private static int Receive(Socket socket, Span<byte> buffer, TimeSpan silenceLimit)
    {
        socket.ReceiveTimeout = Milliseconds(silenceLimit);
        try
        {
            return socket.Receive(buffer, SocketFlags.None);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            throw new TimeoutException($"the daemon said nothing for {silenceLimit.TotalSeconds:0}s");
        }
    }
}
