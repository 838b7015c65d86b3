using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;
using QRemote.Dns;
using QRemote.Message;
using QRemote.Qmail;

namespace QRemote.Daemon;

/// <summary>The delivery process left; the daemon stops that delivery before its message goes out.</summary>
public sealed class ClientGoneException(Exception inner) : Exception("the delivery process went away", inner);

/// <summary>
/// <c>qremote --daemon</c>: the resident service that keeps SMTP connections and DNS answers between
/// deliveries (docs/daemon.md). Listens on a Unix socket (mode 0600: only its own user, qmailr, can
/// connect); each connection is one delivery handed over by a qremote process with its message's file
/// descriptor (<see cref="DaemonProtocol"/>). Runs until SIGTERM, then lets deliveries in progress finish
/// (at most <see cref="DrainTime"/>). Writes a line to stderr when it starts, stops or fails: it runs under a
/// supervisor (systemd, daemontools), never under qmail-rspawn.
/// </summary>
public static partial class DaemonServer
{
    /// <summary>Deliveries at once; more are refused at once, and their processes deliver by themselves.</summary>
    public const int MaxActive = 256;

    /// <summary>How long deliveries in progress may take to finish after SIGTERM.</summary>
    public static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(60);

    /// <summary>How long a client may take to send its request and its go-ahead.</summary>
    private static readonly TimeSpan HandshakeTime = TimeSpan.FromSeconds(5);

    public static int Run(CommandLine command, CancellationToken stop) => RunAsync(command, stop).GetAwaiter().GetResult();

    public static async Task<int> RunAsync(CommandLine command, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(command);
        var path = Program.DaemonSocket(command) ?? command.Socket ?? CommandLine.DefaultSocket;
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            if (File.Exists(path))
            {
                if (await AnswersAsync(path).ConfigureAwait(false))
                {
                    await Console.Error.WriteLineAsync($"qremote daemon: another daemon is listening on {path}").ConfigureAwait(false);
                    return 1;
                }

                File.Delete(path); // left by a daemon that died
            }

            var old = UmaskFor(0b000_111_111);
            try
            {
                listener.Bind(new UnixDomainSocketEndPoint(path));
            }
            finally
            {
                UmaskFor(old);
            }

            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(128);
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"qremote daemon: cannot listen on {path}: {e.Message}").ConfigureAwait(false);
            return 1;
        }

        using var connections = new ConnectionCache(ConnectionLimits.Default, TimeProvider.System);
        var dns = new DnsCache(TimeProvider.System);
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
                    await ServeAsync(connection, dns, connections, hardStop.Token).ConfigureAwait(false);
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
        await Console.Error.WriteLineAsync($"qremote daemon: stopped; {connections.Reused} deliveries on reused connections").ConfigureAwait(false);
        return 0;
    }

    /// <summary>One handed-over delivery, from the request to the report.</summary>
    private static async Task ServeAsync(Socket connection, DnsCache dns, ConnectionCache connections, CancellationToken cancellationToken)
    {
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
            return;
        }

        using var file = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, bufferSize: 0);
        var frame = new MemoryStream();
        frame.Write(buffer, 0, received);
        while (frame.Length < 8 || frame.Length < DaemonProtocol.FrameLength(frame.GetBuffer().AsSpan(0, (int)frame.Length)))
        {
            if (frame.Length >= 8 && DaemonProtocol.FrameLength(frame.GetBuffer().AsSpan(0, (int)frame.Length)) < 0)
            {
                return;
            }

            var n = await connection.ReceiveAsync(buffer, SocketFlags.None, handshake.Token).ConfigureAwait(false);
            if (n == 0)
            {
                return;
            }

            frame.Write(buffer, 0, n);
        }

        if (DaemonProtocol.DecodeRequest(frame.ToArray()) is not var (start, args))
        {
            return;
        }

        await connection.SendAsync(new[] { DaemonProtocol.Accepted }, SocketFlags.None, handshake.Token).ConfigureAwait(false);
        var go = new byte[1];
        if (await connection.ReceiveAsync(go, SocketFlags.None, handshake.Token).ConfigureAwait(false) != 1 || go[0] != DaemonProtocol.Go)
        {
            // The process gave up waiting and delivers by itself: this delivery must not happen here too.
            return;
        }

        var report = await DeliverAsync(connection, file, start, args, dns, connections, cancellationToken).ConfigureAwait(false);
        await connection.SendAsync(DaemonProtocol.EncodeReport(ReportWriter.Format(report)), SocketFlags.None, CancellationToken.None).ConfigureAwait(false);
    }

    private static async Task<DeliveryReport> DeliverAsync(Socket connection, FileStream file, long start, IReadOnlyList<string> args,
        DnsCache dns, ConnectionCache connections, CancellationToken cancellationToken)
    {
        var command = CommandLine.Parse(args, _ => null);
        if (command.Error is not null || Invocation.FromPositional(command.Positional) is not { } invocation)
        {
            return Reports.InvokedImproperly();
        }

        QmailConfig config;
        try
        {
            config = QmailConfig.Load(new ControlFiles(Path.Combine(command.QmailHome, "control")));
        }
        catch (ControlFileException)
        {
            return Reports.UnableToReadControlFiles();
        }

        MessageSource message;
        try
        {
            file.Position = start;
            message = await MessageSource.OpenAsync(new NonClosingStream(file), Environment.GetEnvironmentVariable("TMPDIR"), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Reports.UnableToReadMessage();
        }

        async Task Committing()
        {
            try
            {
                await connection.SendAsync(new[] { DaemonProtocol.Committing }, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                throw new ClientGoneException(e);
            }
        }

        await using (message.ConfigureAwait(false))
        {
            return await Program.DeliverAsync(command, invocation, config, message, new Program.SharedServices(dns, connections, Committing), cancellationToken)
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

    private static int UmaskFor(int mask) => Umask(mask);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "umask")]
    private static partial int Umask(int mask);
}

/// <summary>The message file stays the handler's to close.</summary>
internal sealed class NonClosingStream(Stream inner) : Stream
{
    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => false;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
