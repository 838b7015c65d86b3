using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Smtp;

/// <summary>How a session ends: QUIT, then (over TLS) a close_notify, then the TCP close; over TLS as in plain text.</summary>
[NonParallelizable]
public sealed class SessionEndTests : IDisposable
{
    private readonly TestCa _ca = new();
    private string _cert = "";
    private string _key = "";

    [OneTimeSetUp]
    public void MakeCertificate()
    {
        var issued = _ca.Issue("mx", "mx.qremote.test");
        _cert = issued.CertificateFile;
        _key = issued.KeyFile;
    }

    public void Dispose() => _ca.Dispose();

    /// <summary>Postfix counts the commands of a session in its disconnect line: quit=1 only when QUIT arrived, and
    /// with TLS it arrived inside it (starttls=1, and nothing but EHLO and STARTTLS went in plain text).</summary>
    [Test]
    public async Task A_tls_session_ends_with_quit_inside_tls()
    {
        using var postfix = PostfixServer.Start(
            ("smtpd_tls_security_level", "may"), ("smtpd_tls_cert_file", _cert), ("smtpd_tls_key_file", _key), ("smtpd_tls_loglevel", "1"));
        using var recorder = new WireRecorder(postfix.EndPoint);
        var transcript = new StringWriter();
        var report = await Harness.DeliverAsync("[127.0.0.1]", "s@qremote.test", ["r@example.test"],
            Encoding.UTF8.GetBytes("Subject: x\n\nbody\n"), new() { SmtpPort = recorder.EndPoint.Port, Transcript = TextWriter.Synchronized(transcript) });
        recorder.WaitForSessions();
        Assert.That(report, Does.StartWith("r\\0K127.0.0.1 accepted message."));
        postfix.WaitForLog(" mail=1 ");
        // (The start-up probe's connection has a disconnect line of its own, without commands.)
        var disconnect = postfix.Log.Split('\n').Single(l => l.Contains("disconnect from", StringComparison.Ordinal) && l.Contains(" mail=1 ", StringComparison.Ordinal));
        TestContext.Out.WriteLine(disconnect);
        Assert.That(disconnect, Does.Contain(" ehlo=2 starttls=1 mail=1 rcpt=1 ").And.Contain(" quit=1 "), "QUIT counted, after STARTTLS");
        // (The start-up probe is "lost connection after CONNECT".)
        Assert.That(postfix.Log, Does.Not.Match("lost connection after (?!CONNECT)").And.Not.Contain("unexpected eof").And.Not.Contain("SSL_shutdown"));
        Assert.That(Encoding.Latin1.GetString(recorder.ClientBytes), Does.StartWith("EHLO qremote.test\r\nSTARTTLS\r\n").And.Not.Contain("QUIT"),
            "QUIT went inside TLS");
        Assert.That(transcript.ToString(), Does.Contain("C: QUIT"));
    }

    /// <summary>A TLS server of our own checks the order the records arrive in: QUIT, then the close_notify alert, then
    /// the TCP FIN (an SslStream read returns 0 on close_notify, and may on a bare FIN too,
    /// so the raw bytes decide: the last record before the FIN must be an alert, type 21).</summary>
    [Test]
    public async Task Quit_then_close_notify_then_the_tcp_close()
    {
        using var certificate = X509Certificate2.CreateFromPemFile(_cert, _key);
        var events = new List<string>();
        var done = new TaskCompletionSource();
        var listener = new TcpListener(IPAddress.Parse("127.0.0.4"), 0);
        listener.Start();
        var serve = Task.Run(async () =>
        {
            try
            {
                using var socket = await listener.AcceptSocketAsync();
                var raw = new RecordingStream(new NetworkStream(socket, ownsSocket: false));
                var plain = new LineReader(raw);
                await raw.WriteAsync("220 tls test\r\n"u8.ToArray());
                await plain.ReadLineAsync(); // EHLO
                await raw.WriteAsync("250-tls test\r\n250-STARTTLS\r\n250 PIPELINING\r\n"u8.ToArray());
                await plain.ReadLineAsync(); // STARTTLS
                await raw.WriteAsync("220 go ahead\r\n"u8.ToArray());
                raw.StartTls();
                await using var tls = new SslStream(raw, leaveInnerStreamOpen: true);
                // TLS 1.2: its alert records say so in the clear (type 21); TLS 1.3 disguises them as application data.
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = certificate,
                    EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12,
                });
                var reader = new LineReader(tls);
                string? line;
                while ((line = await reader.ReadLineAsync()) is not null)
                {
                    events.Add(line.Split(' ')[0]);
                    var answer = line switch
                    {
                        _ when line.StartsWith("EHLO", StringComparison.Ordinal) => "250-tls test\r\n250 PIPELINING\r\n",
                        "DATA" => "354 go\r\n",
                        "QUIT" => "221 bye\r\n",
                        _ => "250 ok\r\n",
                    };
                    if (line == "DATA")
                    {
                        await tls.WriteAsync(Encoding.ASCII.GetBytes(answer));
                        while (await reader.ReadLineAsync() is { } body && body != ".")
                        {
                        }

                        answer = "250 2.0.0 queued\r\n";
                    }

                    await tls.WriteAsync(Encoding.ASCII.GetBytes(answer));
                }

                // A read of 0 from SslStream: the close_notify (or a FIN). What came last on the wire tells which.
                var rest = new byte[4096];
                while (await raw.ReadAsync(rest) > 0)
                {
                }

                events.Add("EOF");
                events.Add(raw.LastRecordType == 21 ? "last record: alert" : $"last record: type {raw.LastRecordType}");
            }
            catch (Exception e)
            {
                events.Add(e.GetType().Name + ": " + e.Message);
            }
            finally
            {
                done.TrySetResult();
            }
        });
        var transcript = new StringWriter();
        var report = await Harness.DeliverAsync("[127.0.0.4]", "s@qremote.test", ["r@example.test"], Encoding.UTF8.GetBytes("Subject: x\n\nbody\n"),
            new() { SmtpPort = ((IPEndPoint)listener.LocalEndpoint).Port, Transcript = TextWriter.Synchronized(transcript) });
        await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        listener.Stop();
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.4 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: TLSv1.2, not verified\n\\0"));
        Assert.That(events, Is.EqualTo(new[] { "EHLO", "MAIL", "RCPT", "DATA", "QUIT", "EOF", "last record: alert" }));
    }

    /// <summary>--verbose shows how each session ends and where the next begins: after a failed handshake, the retry's
    /// new connection, and QUIT at the end of the plain session.</summary>
    [Test]
    public async Task The_transcript_shows_the_retry_connection_and_quit()
    {
        var sessions = 0;
        using var server = new ScriptedSmtpServer(IPAddress.Parse("127.0.0.4"), 0, async s =>
        {
            var first = Interlocked.Increment(ref sessions) == 1;
            await s.SendAsync("220 scripted\r\n");
            string? line;
            while ((line = await s.ReadLineAsync()) is not null)
            {
                if (line.StartsWith("EHLO", StringComparison.Ordinal))
                {
                    await s.SendAsync(first ? "250-scripted\r\n250-STARTTLS\r\n250 PIPELINING\r\n" : "250-scripted\r\n250 PIPELINING\r\n");
                }
                else if (line == "STARTTLS")
                {
                    await s.SendAsync("220 go ahead\r\nthis is not a TLS server hello\r\n");
                    return;
                }
                else if (line == "DATA")
                {
                    await s.SendAsync("354 go\r\n");
                    await s.ReadDataAsync();
                    await s.SendAsync("250 2.0.0 queued\r\n");
                }
                else if (line == "QUIT")
                {
                    await s.SendAsync("221 bye\r\n");
                    return;
                }
                else
                {
                    await s.SendAsync("250 ok\r\n");
                }
            }
        });
        var transcript = new StringWriter();
        var report = await Harness.DeliverAsync("[127.0.0.4]", "s@qremote.test", ["r@example.test"], Encoding.UTF8.GetBytes("Subject: x\n\nb\n"),
            new() { SmtpPort = server.EndPoint.Port, Transcript = TextWriter.Synchronized(transcript) });
        Assert.That(report, Does.StartWith("r\\0K127.0.0.4 accepted message."));
        var text = transcript.ToString();
        var retry = text.IndexOf("retrying 127.0.0.4 without TLS", StringComparison.Ordinal);
        Assert.That(retry, Is.GreaterThan(0), text);
        var second = text.IndexOf("connected to ", retry, StringComparison.Ordinal);
        Assert.That(second, Is.GreaterThan(retry), "the retry's connection is shown");
        Assert.That(text.IndexOf("C: QUIT", second, StringComparison.Ordinal), Is.GreaterThan(second), "QUIT ends the retry's session");
        WaitFor.Condition(() => server.Sessions.Count == 2 && server.Sessions[1].Received.EndsWith("QUIT\r\n", StringComparison.Ordinal), "QUIT on the wire");
    }

    /// <summary>Counts TLS records in what it reads (the 5-byte header: type, version, length) and remembers the last
    /// record's type. Writes pass through.</summary>
    private sealed class RecordingStream(Stream inner) : Stream
    {
        private readonly List<byte> _header = [];
        private int _skip;
        private bool _tls;

        public int LastRecordType { get; private set; } = -1;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            if (_tls)
            {
                Parse(buffer.Span[..n]);
            }

            return n;
        }

        /// <summary>Plain-text lines are read before TLS starts; from the handshake on, records are parsed.</summary>
        public void StartTls() => _tls = true;

        private void Parse(ReadOnlySpan<byte> bytes)
        {
            foreach (var b in bytes)
            {
                if (_skip > 0)
                {
                    _skip--;
                    continue;
                }

                _header.Add(b);
                if (_header.Count == 5)
                {
                    LastRecordType = _header[0];
                    _skip = (_header[3] << 8) | _header[4];
                    _header.Clear();
                }
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.WriteAsync(buffer, offset, count, cancellationToken);

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>Lines from a stream, one byte at a time (nothing past a line is consumed: STARTTLS's handshake follows).</summary>
    private sealed class LineReader(Stream stream)
    {
        private readonly byte[] _one = new byte[1];

        public async Task<string?> ReadLineAsync()
        {
            var line = new StringBuilder();
            while (await stream.ReadAsync(_one) > 0)
            {
                if (_one[0] == (byte)'\n')
                {
                    return line.ToString().TrimEnd('\r');
                }

                line.Append((char)_one[0]);
            }

            return null;
        }
    }
}
