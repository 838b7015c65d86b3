using System.Net;
using System.Text;
using QRemote.Daemon;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Daemon;

/// <summary>The connection cache in deliveries (in process): reuse with RSET, and every way a kept connection can disappoint.</summary>
[NonParallelizable]
public sealed class ConnectionReuseTests
{
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.8");

    private static async Task<(string Report, string Transcript)> Deliver(ConnectionCache cache, int port, string sender = "s@qremote.test")
    {
        var text = new StringWriter();
        var report = await Harness.DeliverAsync("[127.0.0.1]", sender, ["r@example.test"], Encoding.UTF8.GetBytes("Subject: reuse\n\nhello\n"),
            new() { SmtpPort = port, Transcript = TextWriter.Synchronized(text), Connections = cache });
        return (report, text.ToString());
    }

    [Test]
    public async Task A_second_delivery_reuses_the_connection_with_rset()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        using var recorder = new WireRecorder(sink.EndPoint);
        using var cache = new ConnectionCache(ConnectionLimits.Default, TimeProvider.System);
        var (first, _) = await Deliver(cache, recorder.EndPoint.Port);
        Assert.That(cache.Count, Is.EqualTo(1), "kept after the first delivery");
        var (second, transcript) = await Deliver(cache, recorder.EndPoint.Port);
        Assert.That(first, Does.StartWith("r\\0K"));
        Assert.That(second, Does.StartWith("r\\0K"));
        Assert.That(transcript, Does.Contain("reusing the connection"));
        Assert.That(recorder.Connections, Is.EqualTo(1), "one connection for both");
        Assert.That(Encoding.ASCII.GetString(recorder.ClientBytes), Does.Contain("RSET\r\nMAIL FROM:<s@qremote.test>"), "RSET pipelined with MAIL");
        Assert.That(cache.Reused, Is.EqualTo(1));
    }

    /// <summary>A scripted server: each session's behaviour from <paramref name="onRset"/> (what to do when RSET
    /// comes) and <paramref name="closeAfterMessage"/>; counts sessions and messages.</summary>
    private sealed class Server : IDisposable
    {
        private readonly ScriptedSmtpServer _server;
        private int _sessions;
        private int _messages;

        public Server(Func<ScriptedSession, Task<bool>> onRset, bool closeAfterMessage = false, bool pipelining = true)
        {
            _server = new ScriptedSmtpServer(IPAddress.Loopback, 0, async s =>
            {
                Interlocked.Increment(ref _sessions);
                await s.SendAsync("220 scripted\r\n");
                string? line;
                while ((line = await s.ReadLineAsync()) is not null)
                {
                    if (line.StartsWith("EHLO", StringComparison.Ordinal))
                    {
                        await s.SendAsync(pipelining ? "250-scripted\r\n250 PIPELINING\r\n" : "250 scripted\r\n");
                    }
                    else if (line == "RSET")
                    {
                        if (!await onRset(s))
                        {
                            return;
                        }
                    }
                    else if (line == "DATA")
                    {
                        await s.SendAsync("354 go\r\n");
                        if (await s.ReadDataAsync())
                        {
                            Interlocked.Increment(ref _messages);
                            await s.SendAsync("250 2.0.0 queued\r\n");
                            if (closeAfterMessage)
                            {
                                return;
                            }
                        }
                    }
                    else if (line == "QUIT")
                    {
                        return;
                    }
                    else
                    {
                        await s.SendAsync("250 ok\r\n");
                    }
                }
            });
        }

        public int Port => _server.EndPoint.Port;

        public int Sessions => Volatile.Read(ref _sessions);

        public int Messages => Volatile.Read(ref _messages);

        public void Dispose() => _server.Dispose();
    }

    [Test]
    public async Task A_connection_the_server_closed_meanwhile_is_not_used()
    {
        using var server = new Server(async s => { await s.SendAsync("250 ok\r\n"); return true; }, closeAfterMessage: true);
        using var cache = new ConnectionCache(ConnectionLimits.Default, TimeProvider.System);
        Assert.That((await Deliver(cache, server.Port)).Report, Does.StartWith("r\\0K"));
        WaitFor.Condition(() => server.Sessions == 1, "the first session");
        Thread.Sleep(100); // the server's close reaches the idle connection
        var (second, transcript) = await Deliver(cache, server.Port);
        Assert.That(second, Does.StartWith("r\\0K"));
        Assert.That(transcript, Does.Not.Contain("reusing the connection"), "seen closed before use");
        Assert.That(server.Sessions, Is.EqualTo(2));
        Assert.That(server.Messages, Is.EqualTo(2));
    }

    [Test]
    public async Task A_connection_that_dies_at_rset_is_replaced_and_nothing_is_lost_or_doubled()
    {
        // The server closes when it sees RSET: the reused connection fails before the message; a fresh one delivers.
        using var server = new Server(_ => Task.FromResult(false));
        using var cache = new ConnectionCache(ConnectionLimits.Default, TimeProvider.System);
        Assert.That((await Deliver(cache, server.Port)).Report, Does.StartWith("r\\0K"));
        var (second, transcript) = await Deliver(cache, server.Port);
        Assert.That(second, Is.EqualTo("r\\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: none offered\n\\0"));
        Assert.That(transcript, Does.Contain("the reused connection failed before the message"));
        Assert.That(server.Sessions, Is.EqualTo(2));
        Assert.That(server.Messages, Is.EqualTo(2));
    }

    /// <summary>A refused RSET leaves the connection in no known state (the last transaction may still be open): it
    /// is closed, without the message, and the delivery runs on a fresh connection.</summary>
    [TestCase(true)]
    [TestCase(false)]
    public async Task A_server_answering_rset_with_an_error_gets_the_message_once_on_a_fresh_connection(bool pipelining)
    {
        using var server = new Server(async s => { await s.SendAsync("502 5.5.2 RSET not implemented\r\n"); return true; }, pipelining: pipelining);
        using var cache = new ConnectionCache(ConnectionLimits.Default, TimeProvider.System);
        Assert.That((await Deliver(cache, server.Port)).Report, Does.StartWith("r\\0K"));
        var (second, transcript) = await Deliver(cache, server.Port);
        Assert.That(second, Is.EqualTo("r\\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: none offered\n\\0"));
        Assert.That(transcript, Does.Contain("S: 502 5.5.2 RSET not implemented"));
        Assert.That(transcript, Does.Contain("RSET refused (502) on the reused connection: opening a fresh one"));
        Assert.That(server.Sessions, Is.EqualTo(2), "the refused RSET's connection given up");
        Assert.That(server.Messages, Is.EqualTo(2), "once each, none on the first connection's second transaction");
    }

    [Test]
    public async Task Two_policies_to_one_address_never_share_a_connection()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        using var recorder = new WireRecorder(sink.EndPoint);
        using var cache = new ConnectionCache(ConnectionLimits.Default, TimeProvider.System);
        var home = TempQmailHome.Create(me: null);
        try
        {
            home.WriteControl("notlshosts/[127.0.0.1]", "");
            Assert.That((await Deliver(cache, recorder.EndPoint.Port)).Report, Does.StartWith("r\\0K"));
            // The same address, now under control/notlshosts: TLS off instead of opportunistic. Not the same key.
            var text = new StringWriter();
            var report = await Harness.DeliverAsync("[127.0.0.1]", "s@qremote.test", ["r@example.test"], Encoding.UTF8.GetBytes("Subject: x\n\nhello\n"),
                new() { SmtpPort = recorder.EndPoint.Port, Transcript = TextWriter.Synchronized(text), Connections = cache, QmailHome = home.Path });
            Assert.That(report, Does.StartWith("r\\0K"));
            Assert.That(text.ToString(), Does.Contain("tls policy for [127.0.0.1]: Off"));
            Assert.That(text.ToString(), Does.Not.Contain("reusing the connection"));
            Assert.That(recorder.Connections, Is.EqualTo(2));
            Assert.That(cache.Count, Is.EqualTo(2), "each kept under its own policy");
        }
        finally
        {
            home.Dispose();
        }
    }
}
