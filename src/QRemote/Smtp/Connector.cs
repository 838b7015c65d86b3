using System.Net;
using System.Net.Sockets;

namespace QRemote.Smtp;

/// <summary>How a connection attempt ended: a connected socket, or why not and whether it was a timeout.</summary>
/// <param name="Socket">The connected socket, or null.</param>
/// <param name="Error">Empty on success; "timed out after Ns", or the socket error's name.</param>
/// <param name="TimedOut">The attempt timed out (ours, or the kernel's ETIMEDOUT): the only failure tcpto counts.</param>
public readonly record struct ConnectResult(Socket? Socket, string Error, bool TimedOut);

/// <summary>Opens the TCP connection ourselves (MailKit's own connect would resolve the name through the
/// system resolver); the source address is the OS's choice.</summary>
public static class Connector
{
    /// <summary>A connected socket, or null with why not.</summary>
    public static async Task<ConnectResult> ConnectAsync(IPEndPoint endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(endpoint, deadline.Token).ConfigureAwait(false);
            return new ConnectResult(socket, "", false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            return new ConnectResult(null, $"timed out after {timeout.TotalSeconds:0}s", true);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            return new ConnectResult(null, e.SocketErrorCode.ToString(), e.SocketErrorCode == SocketError.TimedOut);
        }
    }
}
