using System.Net.Sockets;
using QRemote.Qmail;

namespace QRemote.Daemon;

/// <summary>
/// The daemon's side of one accepted hand-over, after "go": a heartbeat while it delivers (so a stopped daemon is
/// seen by its client), the two-way commit before the message goes out, and the report. Every send is serialized:
/// the heartbeat runs on a timer beside the delivery.
/// </summary>
internal sealed class ClientLine : IDisposable
{
    private readonly Socket _socket;
    private readonly SemaphoreSlim _send = new(1, 1);
    private readonly CancellationTokenSource _stopHeartbeat = new();
    private readonly Task _heartbeat;

    public ClientLine(Socket socket)
    {
        _socket = socket;
        _heartbeat = HeartbeatAsync(_stopHeartbeat.Token);
    }

    /// <summary>Called right before the message's first byte goes out: tells the client, and goes on only once the
    /// client confirms. A client that went away, was stopped, or does not answer within
    /// <see cref="DaemonProtocol.ConfirmLimit"/> delivers (or reports) by itself: the message must not go from here.</summary>
    /// <exception cref="ClientGoneException">No confirmation.</exception>
    public async Task CommitAsync()
    {
        try
        {
            await SendAsync([DaemonProtocol.Committing], CancellationToken.None).ConfigureAwait(false);
            using var limit = new CancellationTokenSource(DaemonProtocol.ConfirmLimit);
            var answer = new byte[1];
            var n = await _socket.ReceiveAsync(answer, SocketFlags.None, limit.Token).ConfigureAwait(false);
            if (n != 1 || answer[0] != DaemonProtocol.Confirm)
            {
                throw new ClientGoneException("the delivery process did not confirm the commit");
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            throw new ClientGoneException("the delivery process did not confirm the commit", e);
        }
    }

    public async Task SendReportAsync(DeliveryReport report)
    {
        await _stopHeartbeat.CancelAsync().ConfigureAwait(false);
        await _heartbeat.ConfigureAwait(false);
        await SendAsync(DaemonProtocol.EncodeReport(ReportWriter.Format(report)), CancellationToken.None).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _stopHeartbeat.Cancel();
        _stopHeartbeat.Dispose();
        _send.Dispose();
    }

    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(DaemonProtocol.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await SendAsync([DaemonProtocol.Alive], cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped, or the client is gone (the commit or the report will find out).
        }
    }

    private async Task SendAsync(byte[] bytes, CancellationToken cancellationToken)
    {
        await _send.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _send.Release();
        }
    }
}
