using System.Net;
using System.Net.Sockets;
using System.Text;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// A server of our own, only for misbehaviour no real server produces on purpose (a greeting that
/// never comes, malformed codes, a drop at an exact byte). Each connection runs the script.
/// </summary>
internal sealed class ScriptedSmtpServer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<ScriptedSession, Task> _script;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<ScriptedSession> _sessions = [];

    /// <param name="receiveBuffer">SO_RCVBUF for accepted connections (set on the listener, so the window is small from
    /// the SYN on): with a throttled reader, what the kernel buffers is what the client may think it has delivered.</param>
    public ScriptedSmtpServer(IPAddress address, int port, Func<ScriptedSession, Task> script, int? receiveBuffer = null)
    {
        _script = script;
        _listener = new TcpListener(address, port);
        if (receiveBuffer is { } size)
        {
            _listener.Server.ReceiveBufferSize = size;
        }

        _listener.Start();
        _ = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public IReadOnlyList<ScriptedSession> Sessions
    {
        get
        {
            lock (_sessions)
            {
                return [.. _sessions];
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        foreach (var s in Sessions)
        {
            s.Dispose();
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var session = new ScriptedSession(socket, _stop.Token);
            lock (_sessions)
            {
                _sessions.Add(session);
            }

            _ = RunAsync(session);
        }
    }

    private async Task RunAsync(ScriptedSession session)
    {
        try
        {
            await _script(session);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException
            or System.Security.Authentication.AuthenticationException)
        {
        }
        finally
        {
            session.Dispose();
        }
    }
}

/// <summary>One connection to the scripted server: send replies, read commands, keep a transcript.</summary>
internal sealed class ScriptedSession(Socket socket, CancellationToken stop) : IDisposable
{
    private Stream _stream = new NetworkStream(socket, ownsSocket: true);
    private readonly MemoryStream _received = new();
    private readonly byte[] _one = new byte[1];

    public CancellationToken Stop => stop;

    /// <summary>Everything the client sent, as Latin-1.</summary>
    public string Received
    {
        get
        {
            lock (_received)
            {
                return Encoding.Latin1.GetString(_received.ToArray());
            }
        }
    }

    public async Task SendAsync(string text) => await _stream.WriteAsync(Encoding.Latin1.GetBytes(text), stop);

    public async Task SendBytesAsync(byte[] bytes) => await _stream.WriteAsync(bytes, stop);

    /// <summary>One command line without its CRLF, or null at end of stream.</summary>
    public async Task<string?> ReadLineAsync()
    {
        var line = new StringBuilder();
        while (true)
        {
            var n = await _stream.ReadAsync(_one, stop);
            if (n == 0)
            {
                return null;
            }

            lock (_received)
            {
                _received.WriteByte(_one[0]);
            }

            if (_one[0] == (byte)'\n')
            {
                return line.ToString().TrimEnd('\r');
            }

            line.Append((char)_one[0]);
        }
    }

    /// <summary>Reads DATA content up to and including the terminating dot line.</summary>
    /// <summary>Reads the message to its final dot; false when the connection ended first (no message, as a
    /// real server sees it).</summary>
    public async Task<bool> ReadDataAsync()
    {
        string? line;
        while ((line = await ReadLineAsync()) is not null && line != ".")
        {
        }

        return line is not null;
    }

    /// <summary>Exactly <paramref name="count"/> bytes, read no faster than <paramref name="bytesPerSecond"/> (a slow
    /// server, or a slow path to it); null at end of stream. Not added to <see cref="Received"/>.</summary>
    public async Task<byte[]?> ReadThrottledAsync(long count, double bytesPerSecond)
    {
        var data = new MemoryStream();
        var buffer = new byte[16 * 1024];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (data.Length < count)
        {
            var n = await _stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count - data.Length)), stop);
            if (n == 0)
            {
                return null;
            }

            data.Write(buffer, 0, n);
            var due = TimeSpan.FromSeconds(data.Length / bytesPerSecond) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, stop);
            }
        }

        return data.ToArray();
    }

    /// <summary>DATA content through its final CRLF.CRLF, read no faster than <paramref name="bytesPerSecond"/>; null at
    /// end of stream. (The client sends nothing after the dot before the reply, so nothing past it is read.)</summary>
    public async Task<byte[]?> ReadDataThrottledAsync(double bytesPerSecond)
    {
        var data = new MemoryStream();
        var buffer = new byte[16 * 1024];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (data.Length < 5 || !data.GetBuffer().AsSpan(0, (int)data.Length).EndsWith("\r\n.\r\n"u8))
        {
            var n = await _stream.ReadAsync(buffer, stop);
            if (n == 0)
            {
                return null;
            }

            data.Write(buffer, 0, n);
            var due = TimeSpan.FromSeconds(data.Length / bytesPerSecond) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, stop);
            }
        }

        return data.ToArray();
    }

    /// <summary>The usual opening: greeting, EHLO with the given keywords, then answer MAIL and each RCPT with 250
    /// until DATA; returns after DATA is read (354 not yet sent).</summary>
    public async Task OpenThroughRcptAsync(params string[] ehloKeywords)
    {
        await SendAsync("220 scripted ESMTP\r\n");
        await ReadLineAsync();
        var ehlo = new StringBuilder("250-scripted\r\n");
        foreach (var k in ehloKeywords)
        {
            ehlo.Append("250-").Append(k).Append("\r\n");
        }

        ehlo.Append("250 HELP\r\n");
        await SendAsync(ehlo.ToString());
    }

    /// <summary>Answers STARTTLS's handshake as the server, with <paramref name="certificate"/>; what follows is read
    /// decrypted, so <see cref="Received"/> shows what the client said inside TLS.</summary>
    public async Task StartTlsAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
    {
        var tls = new System.Net.Security.SslStream(_stream, leaveInnerStreamOpen: false);
        _stream = tls;
        await tls.AuthenticateAsServerAsync(new System.Net.Security.SslServerAuthenticationOptions { ServerCertificate = certificate }, stop);
    }

    /// <summary>Closes with a TCP reset (SO_LINGER 0) instead of a FIN.</summary>
    public void Reset()
    {
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }

    public void Dispose() => _stream.Dispose();
}
