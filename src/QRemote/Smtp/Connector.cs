using System.Net;
using System.Net.Sockets;

namespace QRemote.Smtp;

/// <summary>Opens the TCP connection ourselves (MailKit's own connect would resolve the name through the
/// system resolver); the source address is the OS's choice.</summary>
public static class Connector
{
    /// <summary>A connected socket, or null with why not.</summary>
    public static async Task<(Socket? Socket, string Error)> ConnectAsync(IPEndPoint endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(endpoint, deadline.Token).ConfigureAwait(false);
            return (socket, "");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            return (null, $"timed out after {timeout.TotalSeconds:0}s");
        }
        catch (SocketException e)
        {
            socket.Dispose();
            return (null, e.SocketErrorCode.ToString());
        }
    }
}
