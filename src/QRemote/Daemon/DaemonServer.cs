using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;
using QRemote.Delivery;
using QRemote.Dns;
using QRemote.Message;
using QRemote.Posix;
using QRemote.Qmail;

namespace QRemote.Daemon;

/// <summary>
/// <c>qremote-daemon</c>: the resident service that keeps SMTP connections and DNS answers between
/// deliveries (docs/daemon.md). Listens on a Unix socket (mode 0600, in a directory only its user or root can
/// write: it refuses any other); each connection is one delivery handed over by a qremote process running as the
/// same user (or root) with its message's file descriptor (<see cref="DaemonProtocol"/>). It delivers with its own
/// settings only: a request made with other settings is refused, and that process delivers by itself. Runs until
/// SIGTERM, then lets deliveries in progress finish (at most <see cref="DrainTime"/>). Writes a line to stderr when
/// it starts, stops, refuses or fails: it runs under a supervisor (systemd, daemontools), never under qmail-rspawn.
/// </summary>
internal static class DaemonServer
{
    /// <summary>Deliveries at once; more are refused at once, and their processes deliver by themselves.</summary>
    public const int MaxActive = 256;

    /// <summary>How long deliveries in progress may take to finish after SIGTERM.</summary>
    public static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(60);

    /// <summary>How long a client may take to send its request and its go-ahead.</summary>
    private static readonly TimeSpan HandshakeTime = TimeSpan.FromSeconds(5);

    public static async Task<int> RunAsync(CommandLine command, CancellationToken stop)
    {
        var path = HandOver.SocketPath(command.QmailHome, command.Socket) ?? command.Socket ?? CommandLine.DefaultSocket;
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        if (!await ListenAsync(listener, path).ConfigureAwait(false))
        {
            return 1;
        }

        var settings = DaemonSettings.Of(command);
        using var connections = new ConnectionCache(ConnectionLimits.Default, TimeProvider.System);
        var dns = new DnsCache(TimeProvider.System);
        // Cached MTA-STS policies refreshed before they expire, with no delivery waiting on it (docs/mta-sts.md).
        var refresh = Task.Run(() => QRemote.Tls.MtaStsRefresher.RunAsync(QRemote.Tls.MtaStsRefresher.ForDaemon(settings.QmailHome, command.ResolvConf, command.HttpsPort, dns, TimeProvider.System),
            QRemote.Tls.MtaStsRefresher.Interval, TimeProvider.System, line => Console.Error.WriteLine($"qremote daemon: {line}"), stop), CancellationToken.None);
        using var hardStop = new CancellationTokenSource();
        using var active = new SemaphoreSlim(MaxActive);
        var running = 0;
        await Console.Error.WriteLineAsync($"qremote daemon: listening on {path} (pid {Environment.ProcessId})").ConfigureAwait(false);
        while (!stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await listener.AcceptAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (SocketException e)
            {
                await Console.Error.WriteLineAsync($"qremote daemon: accept: {e.Message}").ConfigureAwait(false);
                await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            if (!active.Wait(0, CancellationToken.None))
            {
                // Full: refused at once; that process delivers by itself.
                connection.Dispose();
                continue;
            }

            Interlocked.Increment(ref running);
            _ = Task.Run(async () =>
            {
                try
                {
                    await ServeAsync(connection, command, settings, dns, connections, hardStop.Token).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    await Console.Error.WriteLineAsync($"qremote daemon: delivery abandoned: {e.GetType().Name}: {e.Message}").ConfigureAwait(false);
                }
                finally
                {
                    connection.Dispose();
                    Interlocked.Decrement(ref running);
                    active.Release();
                }
            }, CancellationToken.None);
        }

        listener.Dispose();
        TryDelete(path);
        var drained = DateTime.UtcNow + DrainTime;
        while (Volatile.Read(ref running) > 0 && DateTime.UtcNow < drained)
        {
            await Task.Delay(50, CancellationToken.None).ConfigureAwait(false);
        }

        await hardStop.CancelAsync().ConfigureAwait(false);
        await refresh.ConfigureAwait(false);
        await Console.Error.WriteLineAsync($"qremote daemon: stopped; {connections.Reused} deliveries on reused connections").ConfigureAwait(false);
        return 0;
    }

    /// <summary>Binds and listens on <paramref name="path"/>, if its directory and anything already there can be trusted;
    /// false, with a line on stderr saying why, when not.</summary>
    private static async Task<bool> ListenAsync(Socket listener, string path)
    {
        try
        {
            if (SocketTrust.DirectoryProblem(path) is { } badDirectory)
            {
                // Anyone who can write there could put a socket of their own in our place: clients would not trust it.
                await Console.Error.WriteLineAsync($"qremote daemon: will not listen on {path}: {badDirectory}").ConfigureAwait(false);
                return false;
            }

            var (exists, ownSocket) = SocketTrust.Examine(path);
            if (exists)
            {
                if (!ownSocket)
                {
                    await Console.Error.WriteLineAsync($"qremote daemon: {path} exists and is not a socket of this user's; not removed").ConfigureAwait(false);
                    return false;
                }

                if (await AnswersAsync(path).ConfigureAwait(false))
                {
                    await Console.Error.WriteLineAsync($"qremote daemon: another daemon is listening on {path}").ConfigureAwait(false);
                    return false;
                }

                File.Delete(path); // left by a daemon that died
            }

            var old = Libc.Umask(0b000_111_111);
            try
            {
                listener.Bind(new UnixDomainSocketEndPoint(path));
            }
            finally
            {
                _ = Libc.Umask(old);
            }

            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(128);
            return true;
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"qremote daemon: cannot listen on {path}: {e.Message}").ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>One handed-over delivery, from the request to the report.</summary>
    private static async Task ServeAsync(Socket connection, CommandLine command, DaemonSettings settings, DnsCache dns, ConnectionCache connections,
        CancellationToken cancellationToken)
    {
        if (SocketTrust.PeerProblem(connection) is { } badPeer)
        {
            await Console.Error.WriteLineAsync($"qremote daemon: refused a connection: {badPeer}").ConfigureAwait(false);
            return;
        }

        var buffer = new byte[64 * 1024];
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        handshake.CancelAfter(HandshakeTime);
        // Wait for the request without holding a thread (a peek), then take it, and its descriptor, at once.
        if (await connection.ReceiveAsync(buffer.AsMemory(0, 1), SocketFlags.Peek, handshake.Token).ConfigureAwait(false) == 0)
        {
            return;
        }

        var received = FdPassing.Receive(connection, buffer, out var fd, (int)HandshakeTime.TotalMicroseconds);
        if (fd < 0)
        {
            await RefuseAsync(connection, "a request without the message's descriptor", handshake.Token).ConfigureAwait(false);
            return;
        }

        using var file = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, bufferSize: 0);
        var request = await ReadRequestAsync(connection, buffer, received, handshake.Token).ConfigureAwait(false);
        // Every check comes before "accepted": a request this daemon cannot serve as the process would is refused, and
        // the process delivers by itself. Nothing internal to QRemote ever becomes a report (let alone a bounce) here.
        var refusal = request is null ? "a request it cannot read (another protocol version?)"
            : request.Settings != settings ? $"a request made with other settings ({Describe(request.Settings)}; the daemon's: {Describe(settings)})"
            : Invocation.FromPositional(request.Positions) is null ? "a request without host, sender and recipient"
            : null;
        if (refusal is not null)
        {
            await RefuseAsync(connection, refusal, handshake.Token).ConfigureAwait(false);
            return;
        }

        await connection.SendAsync(new[] { DaemonProtocol.Accepted }, SocketFlags.None, handshake.Token).ConfigureAwait(false);
        var go = new byte[1];
        if (await connection.ReceiveAsync(go, SocketFlags.None, handshake.Token).ConfigureAwait(false) != 1 || go[0] != DaemonProtocol.Go)
        {
            // The process gave up waiting and delivers by itself: this delivery must not happen here too.
            return;
        }

        using var client = new ClientLine(connection);
        var report = await DeliverAsync(client, file, request!, command, dns, connections, cancellationToken).ConfigureAwait(false);
        await client.SendReportAsync(report).ConfigureAwait(false);
    }

    private static async Task<DaemonRequest?> ReadRequestAsync(Socket connection, byte[] buffer, int received, CancellationToken cancellationToken)
    {
        var frame = new MemoryStream();
        frame.Write(buffer, 0, received);
        while (frame.Length < 8 || frame.Length < DaemonProtocol.FrameLength(frame.GetBuffer().AsSpan(0, (int)frame.Length)))
        {
            if (frame.Length >= 8 && DaemonProtocol.FrameLength(frame.GetBuffer().AsSpan(0, (int)frame.Length)) < 0)
            {
                return null;
            }

            var n = await connection.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return null;
            }

            frame.Write(buffer, 0, n);
        }

        return DaemonProtocol.DecodeRequest(frame.ToArray());
    }

    private static async Task RefuseAsync(Socket connection, string why, CancellationToken cancellationToken)
    {
        await Console.Error.WriteLineAsync($"qremote daemon: refused {why}; that process delivers by itself").ConfigureAwait(false);
        try
        {
            await connection.SendAsync(new[] { DaemonProtocol.Refused }, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
        }
    }

    private static string Describe(DaemonSettings s) =>
        FormattableString.Invariant($"qmail home {s.QmailHome}, resolv.conf {s.ResolvConf}, smtp port {s.SmtpPort}, https port {s.HttpsPort}");

    private static async Task<DeliveryReport> DeliverAsync(ClientLine client, FileStream file, DaemonRequest request, CommandLine command,
        DnsCache dns, ConnectionCache connections, CancellationToken cancellationToken)
    {
        var invocation = Invocation.FromPositional(request.Positions)!;
        if (DeliveryRun.LoadConfig(command.QmailHome, out var unreadable) is not { } config)
        {
            return unreadable!;
        }

        MessageSource message;
        try
        {
            file.Position = request.Start;
            message = await MessageSource.OpenAsync(new NonClosingStream(file), Environment.GetEnvironmentVariable("TMPDIR"), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Reports.UnableToReadMessage();
        }

        await using (message.ConfigureAwait(false))
        {
            return await DeliveryRun.RunAsync(command, invocation, config, message, new SharedServices(dns, connections, client.CommitAsync), cancellationToken)
                .ConfigureAwait(false);
        }
    }

    private static async Task<bool> AnswersAsync(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(path), timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
