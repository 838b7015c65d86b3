using System.Net;
using System.Net.Sockets;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Daemon;

/// <summary>
/// <c>qremote --daemon</c> with the published binary, deliveries handed to it by qremote processes started as
/// qmail-rspawn starts them (<see cref="QmailRspawn"/>): reuse against a real Postfix, and every fallback path:
/// no daemon, a daemon slow to answer, a daemon killed before and after the message went out.
/// </summary>
[NonParallelizable]
public sealed class DaemonTests
{
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.12");
    private TempQmailHome _home = null!;
    private string _message = "";

    [SetUp]
    public void MakeHome()
    {
        _home = TempQmailHome.Create();
        _message = Path.Combine(_home.Path, "message");
        File.WriteAllText(_message, "From: s@qremote.test\nSubject: via the daemon\n\n.dotted\nbody\n");
        _ = PublishedBinary.Path;
    }

    [TearDown]
    public void RemoveHome() => _home.Dispose();

    private void Route(IPEndPoint server) =>
        File.WriteAllText(_home.Control("smtproutes"), $"example.test:[{server.Address}]:{server.Port}\n");

    private RspawnResult Deliver() => QmailRspawn.Run(_home.Path, _message, ["example.test", "s@qremote.test", "rcpt@example.test"]);

    [Test]
    public void Deliveries_handed_to_the_daemon_share_one_connection_to_postfix()
    {
        using var postfix = PostfixServer.Start();
        Route(postfix.EndPoint);
        using var daemon = QRemoteDaemon.Start(_home.Path);
        for (var i = 0; i < 3; i++)
        {
            var r = Deliver();
            Assert.That(r.Letter, Is.EqualTo('K'), r.Shown);
            Assert.That(r.Shown, Does.Match(@"^r\\0K127\.0\.0\.3 accepted message\.\nRemote host said: 250 2\.0\.0 Ok: \d+ bytes queued as [0-9A-F]+\nTLS: none offered\n\\0$"));
        }

        WaitFor.Condition(() => postfix.Log.Split('\n').Count(l => l.Contains("to=<rcpt@example.test>", StringComparison.Ordinal)) == 3, "three messages in Postfix");
        // Every connection but the start-up probe's (which sends no command).
        var lines = postfix.Log.Split('\n');
        var connects = lines.Count(l => l.Contains(" connect from", StringComparison.Ordinal)) - lines.Count(l => l.Contains("commands=0/0", StringComparison.Ordinal));
        Assert.That(connects, Is.EqualTo(1), "one SMTP connection for three deliveries:\n" + postfix.Log);
        Assert.That(daemon.HasExited, Is.False);
    }

    [Test]
    public void Without_a_daemon_listening_the_process_delivers_by_itself()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        Route(sink.EndPoint);
        File.WriteAllText(_home.Control("qremote-daemon"), Path.Combine(_home.Path, "no-such.sock") + "\n");
        var r = Deliver();
        Assert.That(r.Shown, Is.EqualTo("r\\0K127.0.0.12 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"));
    }

    [Test]
    public void A_daemon_that_accepts_but_never_answers_is_given_up_and_the_process_delivers()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        Route(sink.EndPoint);
        // Root's, writable by root only: a directory the process (nobody) trusts, with a socket root listens on.
        var dir = Directory.CreateTempSubdirectory("qremote-slow-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        var path = Path.Combine(dir, "slow.sock");
        using var slow = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        slow.Bind(new UnixDomainSocketEndPoint(path));
        File.SetUnixFileMode(path, (UnixFileMode)0b110_110_110);
        slow.Listen(4);
        var accepted = slow.AcceptAsync();
        File.WriteAllText(_home.Control("qremote-daemon"), path + "\n");
        try
        {
            var r = Deliver();
            Assert.That(r.Shown, Is.EqualTo("r\\0K127.0.0.12 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"));
            Assert.That(accepted.Wait(1000), "the process did try the silent daemon first");
            accepted.Result.Dispose();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void A_daemon_killed_before_the_message_went_out_leaves_the_delivery_to_the_process()
    {
        var sessions = 0;
        var stalled = new ManualResetEventSlim();
        using var server = new ScriptedSmtpServer(Address, 0, async s =>
        {
            var first = Interlocked.Increment(ref sessions) == 1;
            await s.SendAsync("220 scripted\r\n");
            string? line;
            while ((line = await s.ReadLineAsync()) is not null)
            {
                if (line.StartsWith("EHLO", StringComparison.Ordinal))
                {
                    await s.SendAsync("250-scripted\r\n250 PIPELINING\r\n");
                }
                else if (first && line.StartsWith("MAIL", StringComparison.Ordinal))
                {
                    stalled.Set();
                    await Task.Delay(Timeout.Infinite, s.Stop); // no answer: the daemon dies waiting
                }
                else if (line == "DATA")
                {
                    await s.SendAsync("354 go\r\n");
                    if (await s.ReadDataAsync())
                    {
                        await s.SendAsync("250 2.0.0 queued by the second session\r\n");
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
        Route(server.EndPoint);
        using var daemon = QRemoteDaemon.Start(_home.Path);
        var delivery = Task.Run(Deliver);
        Assert.That(stalled.Wait(20_000), "the daemon's transaction reached MAIL");
        daemon.Kill();
        var r = delivery.Result;
        Assert.That(r.Shown, Is.EqualTo("r\\0K127.0.0.12 accepted message.\nRemote host said: 250 2.0.0 queued by the second session\nTLS: none offered\n\\0"));
        Assert.That(sessions, Is.EqualTo(2));
    }

    [Test]
    public void A_daemon_killed_after_the_message_went_out_is_Z_possible_duplicate()
    {
        var dot = new ManualResetEventSlim();
        using var server = new ScriptedSmtpServer(Address, 0, async s =>
        {
            await s.SendAsync("220 scripted\r\n");
            string? line;
            while ((line = await s.ReadLineAsync()) is not null)
            {
                if (line.StartsWith("EHLO", StringComparison.Ordinal))
                {
                    await s.SendAsync("250-scripted\r\n250 PIPELINING\r\n");
                }
                else if (line == "DATA")
                {
                    await s.SendAsync("354 go\r\n");
                    await s.ReadDataAsync();
                    dot.Set();
                    await Task.Delay(Timeout.Infinite, s.Stop); // the message is in; the answer never comes
                }
                else
                {
                    await s.SendAsync("250 ok\r\n");
                }
            }
        });
        Route(server.EndPoint);
        using var daemon = QRemoteDaemon.Start(_home.Path);
        var delivery = Task.Run(Deliver);
        Assert.That(dot.Wait(20_000), "the server has the message and its final dot");
        daemon.Kill();
        var r = delivery.Result;
        Assert.That(r.Shown, Is.EqualTo("ZThe QRemote daemon went away while sending the message; the outcome is unknown. Possible duplicate! (#4.3.0)\n\\0"));
    }

    /// <summary>What a client of another version, or with other settings, gets before anything is delivered: a refusal,
    /// never "accepted" and a report (the old daemon answered "accepted" and then bounced it as invoked improperly).</summary>
    [TestCase("version 1")]
    [TestCase("other settings")]
    [TestCase("two positions")]
    public void A_request_the_daemon_cannot_serve_as_the_process_would_is_refused_before_it_is_accepted(string kind)
    {
        using var daemon = QRemoteDaemon.Start(_home.Path);
        var settings = new QRemote.Daemon.DaemonSettings(_home.Path, "/etc/resolv.conf", 25, 443);
        var frame = kind switch
        {
            "version 1" => [.. "QRD1"u8, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0],
            "other settings" => QRemote.Daemon.DaemonProtocol.EncodeRequest(new(0, settings with { ResolvConf = "/tmp/lab-resolv.conf" }, ["example.test", "s@q", "r@example.test"])),
            _ => QRemote.Daemon.DaemonProtocol.EncodeRequest(new(0, settings, ["example.test", "s@q"])),
        };
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(daemon.Socket));
        using var message = File.OpenRead(_message);
        QRemote.Daemon.FdPassing.Send(socket, frame, (int)message.SafeFileHandle.DangerousGetHandle());
        socket.ReceiveTimeout = 10_000;
        var answer = new byte[16];
        var n = socket.Receive(answer);
        Assert.That(n, Is.EqualTo(1));
        Assert.That((char)answer[0], Is.EqualTo('N'), "refused: the process delivers by itself");
        Assert.That(socket.Receive(answer), Is.Zero, "and nothing after it");
        Assert.That(daemon.HasExited, Is.False);
    }
}
