using System.Net.Sockets;

namespace QRemote.Smtp;

/// <summary>
/// One SMTP connection past its greeting, EHLO, STARTTLS and AUTH: what a connection cache keeps between
/// deliveries (<c>qremote --daemon</c>). Owns the socket, MailKit's client and the reply recorder.
/// </summary>
internal sealed class SmtpSession(Socket socket, QRemoteSmtpClient client, ReplyRecorder recorder, TimeProvider time) : IDisposable
{
    public Socket Socket { get; } = socket;

    public QRemoteSmtpClient Client { get; } = client;

    public ReplyRecorder Recorder { get; } = recorder;

    /// <summary>What TLS the connection has, for the log.</summary>
    public string Tls { get; set; } = "none";

    /// <summary>What TLS the connection has, as the last line of a K report.</summary>
    public string TlsSummary { get; set; } = Qmail.Reports.TlsNotOffered();

    /// <summary>When the connection was made: a cache reuses it for at most 300 s (Postfix's smtp_connection_reuse_time_limit).</summary>
    public long Opened { get; } = time.GetTimestamp();

    /// <summary>When it went back to the cache.</summary>
    public long IdleSince { get; set; }

    /// <summary>Transactions completed on it.</summary>
    public int Transactions { get; set; }

    /// <summary>What its last EHLO reply said in RFC 9422 LIMITS: a cache hands it out only while <c>MAILMAX</c> allows
    /// another transaction.</summary>
    public SmtpLimits Limits { get; set; } = SmtpLimits.None;

    /// <summary>The TLS policy it was opened under: a delivery that must open another connection to the same address
    /// (MAILMAX reached) opens it the same way.</summary>
    public Tls.TlsPolicy? Policy { get; set; }

    /// <summary>Whether <c>MAILMAX</c> allows another transaction on it.</summary>
    public bool MayStartTransaction => Limits.MailMax is not { } most || Transactions < most;

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

    /// <summary>How long ending a session may take, QUIT and TLS's close together: never <c>timeoutremote</c>, since
    /// the outcome is already decided (netqmail does not even wait for QUIT's reply).</summary>
    public static readonly TimeSpan EndBound = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The one way a session ends: QUIT without waiting for its reply (netqmail: "waiting for remote side is just too
    /// ridiculous"), through TLS when the session has it; then TLS's close_notify; then the TCP close, and everything
    /// released. A strict server (Exim: "TLS connection was non-properly terminated") logs the session as ended by QUIT.
    /// All of it within <see cref="EndBound"/>; a failure here never changes the outcome.
    /// </summary>
    public async Task QuitAsync()
    {
        using var bound = new CancellationTokenSource(EndBound);
        try
        {
            if (Client.IsConnected && Socket.Connected && PipelinedSender.CommandStream(Client) is { } commands)
            {
                // Through MailKit's stream, so the transcript shows it; over TLS MailKit's stream is inside TLS.
                await commands.WriteAsync("QUIT\r\n"u8.ToArray(), bound.Token).ConfigureAwait(false);
                await commands.FlushAsync(bound.Token).ConfigureAwait(false);
                if (PipelinedSender.Connection(commands) is System.Net.Security.SslStream tls)
                {
                    await tls.ShutdownAsync().WaitAsync(bound.Token).ConfigureAwait(false);
                }

                Socket.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException
            or InvalidOperationException or MailKit.ServiceNotConnectedException)
        {
        }

        Dispose();
    }

    /// <summary><see cref="QuitAsync"/> for callers that cannot await (the connection cache's sweep and disposal): it
    /// blocks for at most <see cref="EndBound"/>.</summary>
    public void Close() => QuitAsync().GetAwaiter().GetResult();

    private int _disposed;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Client.Dispose();
        Recorder.Dispose();
        Socket.Dispose();
    }
}
