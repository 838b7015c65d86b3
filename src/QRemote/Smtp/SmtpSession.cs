using System.Net.Sockets;

namespace QRemote.Smtp;

/// <summary>
/// One SMTP connection past its greeting, EHLO, STARTTLS and AUTH: what a connection cache keeps between
/// deliveries (<c>qremote --daemon</c>). Owns the socket, MailKit's client and the reply recorder.
/// </summary>
public sealed class SmtpSession(Socket socket, QRemoteSmtpClient client, ReplyRecorder recorder, TimeProvider time) : IDisposable
{
    public Socket Socket { get; } = socket;

    public QRemoteSmtpClient Client { get; } = client;

    public ReplyRecorder Recorder { get; } = recorder;

    /// <summary>What TLS the connection has, for the log.</summary>
    public string Tls { get; set; } = "none";

    /// <summary>When the connection was made: a cache reuses it for at most 300 s (Postfix's smtp_connection_reuse_time_limit).</summary>
    public long Opened { get; } = time.GetTimestamp();

    /// <summary>When it went back to the cache.</summary>
    public long IdleSince { get; set; }

    /// <summary>Transactions completed on it.</summary>
    public int Transactions { get; set; }

    public TimeSpan Age(TimeProvider clock) => clock.GetElapsedTime(Opened);

    /// <summary>
    /// Whether the server has closed the connection, or said something unasked (a 421 at its idle timeout):
    /// readable while idle means unusable. Checked on the socket itself, so it sees TLS's close too.
    /// </summary>
    public bool LooksClosed()
    {
        try
        {
            return !Socket.Connected || Socket.Poll(0, SelectMode.SelectRead);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return true;
        }
    }

    /// <summary>QUIT without waiting (over TLS, just the close), then everything released.</summary>
    public void Close()
    {
        try
        {
            if (!Client.IsSecure && Socket.Connected)
            {
                Socket.Send("QUIT\r\n"u8, SocketFlags.None);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        Dispose();
    }

    public void Dispose()
    {
        Client.Dispose();
        Recorder.Dispose();
        Socket.Dispose();
    }
}
