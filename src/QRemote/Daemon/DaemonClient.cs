using System.Buffers.Binary;
using System.Net.Sockets;
using QRemote.Qmail;

namespace QRemote.Daemon;

/// <summary>How a hand-over to the daemon ended.</summary>
public enum DaemonOutcome
{
    /// <summary>The daemon did not take the delivery (absent, refused, slow, or gone before the message went out):
    /// the process delivers by itself; nothing was sent.</summary>
    NotUsed,
    /// <summary>The daemon delivered and reported.</summary>
    Reported,
    /// <summary>The daemon was gone after the message started to go out: the outcome is unknown (Z).</summary>
    Unknown,
}

public sealed record DaemonResult(DaemonOutcome Outcome, DeliveryReport? Report, string Why);

/// <summary>The delivery process's side of <see cref="DaemonProtocol"/>.</summary>
public static class DaemonClient
{
    /// <summary>The daemon must connect and accept a delivery within this (docs/daemon.md), or the process
    /// delivers by itself.</summary>
    public static readonly TimeSpan AcceptLimit = TimeSpan.FromSeconds(2);

    public static async Task<DaemonResult> DeliverAsync(string socketPath, IReadOnlyList<string> args, int messageFd, long start, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socketPath);
        ArgumentNullException.ThrowIfNull(args);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using (var connecting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            connecting.CancelAfter(AcceptLimit);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), connecting.Token).ConfigureAwait(false);
                FdPassing.Send(socket, DaemonProtocol.EncodeRequest(start, args), messageFd);
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

        // From here the daemon delivers. Until it says the message is going out, a silent end means nothing went.
        var committed = false;
        try
        {
            while (true)
            {
                var frame = await ReadByteAsync(socket, cancellationToken).ConfigureAwait(false);
                if (frame == DaemonProtocol.Committing)
                {
                    committed = true;
                    continue;
                }

                if (frame != DaemonProtocol.Report)
                {
                    break;
                }

                var head = new byte[4];
                await ReadExactlyAsync(socket, head, cancellationToken).ConfigureAwait(false);
                var length = BinaryPrimitives.ReadInt32BigEndian(head);
                if (length is < 2 or > 1 << 24)
                {
                    break;
                }

                var bytes = new byte[length];
                await ReadExactlyAsync(socket, bytes, cancellationToken).ConfigureAwait(false);
                if (ReportWriter.Parse(bytes) is { } report)
                {
                    return new(DaemonOutcome.Reported, report, "");
                }

                break;
            }
        }
        catch (Exception e) when (e is SocketException or IOException or EndOfStreamException)
        {
        }
        catch (OperationCanceledException) when (committed)
        {
            return new(DaemonOutcome.Unknown, null, "stopped while the daemon was sending the message");
        }

        return committed
            ? new(DaemonOutcome.Unknown, null, "the daemon went away while sending the message")
            : new(DaemonOutcome.NotUsed, null, "the daemon went away before sending the message");
    }

    private static async Task<int> ReadByteAsync(Socket socket, CancellationToken cancellationToken)
    {
        var one = new byte[1];
        var n = await socket.ReceiveAsync(one, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        return n == 0 ? -1 : one[0];
    }

    private static async Task ReadExactlyAsync(Socket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new EndOfStreamException();
            }

            read += n;
        }
    }
}
