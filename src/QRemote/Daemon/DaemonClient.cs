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

/// <summary>The delivery process's side of <see cref="DaemonProtocol"/>.</summary>
internal static class DaemonClient
{
    /// <summary>The daemon must connect and accept a delivery within this (docs/daemon.md), or the process
    /// delivers by itself.</summary>
    public static readonly TimeSpan AcceptLimit = TimeSpan.FromSeconds(2);

    public static async Task<DaemonResult> DeliverAsync(string socketPath, DaemonRequest request, int messageFd, CancellationToken cancellationToken) =>
        await DeliverAsync(socketPath, request, messageFd, DaemonProtocol.SilenceLimit, cancellationToken).ConfigureAwait(false);

    /// <param name="silenceLimit">How long the daemon may say nothing (tests shorten it).</param>
    public static async Task<DaemonResult> DeliverAsync(string socketPath, DaemonRequest request, int messageFd, TimeSpan silenceLimit,
        CancellationToken cancellationToken)
    {
        if (SocketTrust.DirectoryProblem(socketPath) is { } badDirectory)
        {
            return new(DaemonOutcome.NotUsed, null, badDirectory);
        }

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using (var connecting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            connecting.CancelAfter(AcceptLimit);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), connecting.Token).ConfigureAwait(false);
                if (SocketTrust.PeerProblem(socket) is { } badPeer)
                {
                    // Checked before the descriptor goes: an impostor must not read the queue file.
                    return new(DaemonOutcome.NotUsed, null, badPeer);
                }

                FdPassing.Send(socket, DaemonProtocol.EncodeRequest(request), messageFd);
                var first = await ReadByteAsync(socket, connecting.Token).ConfigureAwait(false);
                if (first != DaemonProtocol.Accepted)
                {
                    return new(DaemonOutcome.NotUsed, null, first < 0 ? "the daemon closed the connection" : "the daemon refused");
                }

                await socket.SendAsync(new[] { DaemonProtocol.Go }, SocketFlags.None, connecting.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
            {
                cancellationToken.ThrowIfCancellationRequested();
                return new(DaemonOutcome.NotUsed, null, e is OperationCanceledException ? $"no answer from the daemon within {AcceptLimit.TotalSeconds:0}s" : e.Message);
            }
        }

        // From here the daemon delivers. Until this process confirms the commit, the daemon can send nothing that counts,
        // so any end before it (silence, a broken socket, a signal) means: deliver here, or report a plain Z.
        var committed = false;
        try
        {
            while (true)
            {
                var frame = await ReadByteAsync(socket, silenceLimit, cancellationToken).ConfigureAwait(false);
                switch (frame)
                {
                    case DaemonProtocol.Alive:
                        continue;
                    case DaemonProtocol.Committing when !committed:
                        await socket.SendAsync(new[] { DaemonProtocol.Confirm }, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                        committed = true;
                        continue;
                    case DaemonProtocol.Report:
                        if (await ReadReportAsync(socket, silenceLimit, cancellationToken).ConfigureAwait(false) is { } report)
                        {
                            return new(DaemonOutcome.Reported, report, "");
                        }

                        break;
                }

                break;
            }
        }
        catch (Exception e) when (e is SocketException or IOException or EndOfStreamException or TimeoutException)
        {
        }
        catch (OperationCanceledException) when (committed)
        {
            return new(DaemonOutcome.Unknown, null, "stopped while the daemon was sending the message");
        }

        return committed
            ? new(DaemonOutcome.Unknown, null, "the daemon was lost while sending the message")
            : new(DaemonOutcome.NotUsed, null, "the daemon was lost before sending the message");
    }

    private static async Task<DeliveryReport?> ReadReportAsync(Socket socket, TimeSpan silenceLimit, CancellationToken cancellationToken)
    {
        var head = new byte[4];
        await ReadExactlyAsync(socket, head, silenceLimit, cancellationToken).ConfigureAwait(false);
        var length = BinaryPrimitives.ReadInt32BigEndian(head);
        if (length is < 2 or > 1 << 24)
        {
            return null;
        }

        var bytes = new byte[length];
        await ReadExactlyAsync(socket, bytes, silenceLimit, cancellationToken).ConfigureAwait(false);
        return ReportWriter.Parse(bytes);
    }

    private static async Task<int> ReadByteAsync(Socket socket, CancellationToken cancellationToken)
    {
        var one = new byte[1];
        var n = await socket.ReceiveAsync(one, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        return n == 0 ? -1 : one[0];
    }

    private static async Task<int> ReadByteAsync(Socket socket, TimeSpan silenceLimit, CancellationToken cancellationToken)
    {
        var one = new byte[1];
        await ReadExactlyAsync(socket, one, silenceLimit, cancellationToken).ConfigureAwait(false);
        return one[0];
    }

    /// <summary>Fills the buffer; <see cref="TimeoutException"/> after <paramref name="silenceLimit"/> without a byte.</summary>
    private static async Task ReadExactlyAsync(Socket socket, byte[] buffer, TimeSpan silenceLimit, CancellationToken cancellationToken)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            using var silence = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            silence.CancelAfter(silenceLimit);
            int n;
            try
            {
                n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, silence.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"the daemon said nothing for {silenceLimit.TotalSeconds:0}s");
            }

            if (n == 0)
            {
                throw new EndOfStreamException();
            }

            read += n;
        }
    }
}
