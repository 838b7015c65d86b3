using System.Net;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.EndToEnd;

/// <summary>
/// <c>qremote-handover</c>, the small qmail-remote for hosts that run qremote-daemon (docs/daemon.md), published and run
/// as qmail-rspawn runs qmail-remote (as nobody, positions only, the message a regular file on stdin): the daemon's
/// exact report when it answers; qremote's exact report, through an exec of the qremote beside it, when there is no
/// daemon, when it is down, when the socket is a file or another user's, and when a daemon read the message through
/// the descriptor and went away (stdin is put back where it was).
/// </summary>
[NonParallelizable]
public sealed class HandOverBinaryTests
{
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.13");
    private const string Body = "From: s@qremote.test\nSubject: via qremote-handover\n\n.dotted\nbody\n";
    private const string Accepted = "r\\0K127.0.0.13 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0";
    private TempQmailHome _home = null!;
    private string _message = "";
    private string _dir = "";

    [SetUp]
    public void MakeHome()
    {
        _home = TempQmailHome.Create();
        _message = Path.Combine(_home.Path, "message");
        File.WriteAllText(_message, Body);
        _dir = Directory.CreateTempSubdirectory("qremote-handover-").FullName;
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_101_101);
    }

    [TearDown]
    public void Remove()
    {
        _home.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private RspawnResult Deliver(SmtpSink sink, string program)
    {
        File.WriteAllText(_home.Control("smtproutes"), $"example.test:[{sink.EndPoint.Address}]:{sink.EndPoint.Port}\n");
        var r = QmailRspawn.Run(_home.Path, _message, ["example.test", "s@qremote.test", "rcpt@example.test"], program: program);
        TestContext.Out.WriteLine(r.Shown);
        return r;
    }

    /// <summary>qremote-handover copied into a directory of its own, with no qremote beside it to exec: whatever it
    /// reports, it did not get from qremote.</summary>
    private string Alone()
    {
        var alone = Path.Combine(_dir, "alone");
        Directory.CreateDirectory(alone);
        File.SetUnixFileMode(alone, (UnixFileMode)0b111_101_101);
        var copy = Path.Combine(alone, "qremote-handover");
        File.Copy(PublishedBinary.HandOver, copy);
        File.SetUnixFileMode(copy, (UnixFileMode)0b111_101_101);
        var name = Path.Combine(alone, "qmail-remote");
        File.CreateSymbolicLink(name, copy);
        return name;
    }

    private static void AssertDeliveredWhole(SmtpSink sink)
    {
        WaitFor.Condition(() => sink.Dumps().Count > 0, "the sink's dump");
        Assert.That(sink.Dumps().Single(), Does.Contain("X-Rcpt-Args: <rcpt@example.test>").And.EndWith("\n" + Body + "\n"));
    }

    [Test]
    public void With_the_daemon_answering_the_report_is_the_daemons()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        File.WriteAllText(_home.Control("smtproutes"), $"example.test:[{sink.EndPoint.Address}]:{sink.EndPoint.Port}\n");
        using var daemon = QRemoteDaemon.Start(_home.Path);
        var r = Deliver(sink, Alone());
        Assert.That(r.Shown, Is.EqualTo(Accepted), "delivered by the daemon: there is no qremote beside this copy to exec");
        AssertDeliveredWhole(sink);
        Assert.That(daemon.HasExited, Is.False);
    }

    [Test]
    public void Alone_without_a_daemon_it_cannot_deliver_and_defers()
    {
        // The control for the test above: without the daemon this copy has nothing to exec, and says so with a Z.
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        var r = Deliver(sink, Alone());
        Assert.That(r.Shown, Is.EqualTo("ZQRemote failed unexpectedly; the delivery will be retried. (#4.3.0)\n\\0"));
        Assert.That(sink.Dumps(), Is.Empty);
    }

    [Test]
    public void Without_a_daemon_configured_qremote_delivers()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        var r = Deliver(sink, PublishedBinary.HandOverQmailRemote);
        Assert.That(r.Shown, Is.EqualTo(Accepted));
        AssertDeliveredWhole(sink);
    }

    [Test]
    public void With_the_daemon_down_qremote_delivers()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        File.WriteAllText(_home.Control("qremote-daemon"), Path.Combine(_dir, "no-such.sock") + "\n");
        var r = Deliver(sink, PublishedBinary.HandOverQmailRemote);
        Assert.That(r.Shown, Is.EqualTo(Accepted));
        AssertDeliveredWhole(sink);
    }

    [Test]
    public void A_regular_file_at_the_socket_path_leaves_the_delivery_to_qremote()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        var file = Path.Combine(_dir, "qremote.sock");
        File.WriteAllText(file, "not a socket\n");
        File.SetUnixFileMode(file, (UnixFileMode)0b110_110_110);
        File.WriteAllText(_home.Control("qremote-daemon"), file + "\n");
        var r = Deliver(sink, PublishedBinary.HandOverQmailRemote);
        Assert.That(r.Shown, Is.EqualTo(Accepted));
        AssertDeliveredWhole(sink);
        Assert.That(File.ReadAllText(file), Is.EqualTo("not a socket\n"));
    }

    [Test]
    public void A_socket_where_another_user_listens_leaves_the_delivery_to_qremote()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        var socket = Path.Combine(_dir, "qremote.sock");
        var record = Path.Combine(_dir, "record");
        using var impostor = StartListener(socket, record, 4321, readsTheMessage: false);
        var r = Deliver(sink, PublishedBinary.HandOverQmailRemote);
        Assert.That(r.Shown, Is.EqualTo(Accepted), "delivered by qremote, not by the impostor");
        AssertDeliveredWhole(sink);
        // At most a connection that closed at once (the peer is checked once connected): no request, no descriptor.
        Assert.That(File.ReadAllText(record), Is.Empty.Or.EqualTo("request 0 bytes\n"));
    }

    [Test]
    public void A_daemon_that_read_the_message_and_went_away_leaves_qremote_the_whole_message()
    {
        // A listener qremote-handover trusts (its own user, a closed directory) reads the message through the passed
        // descriptor, which moves the offset stdin shares, and closes before the commit: qremote must start at the
        // offset stdin had, and must not try the daemon a second time.
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        var socket = Path.Combine(_dir, "qremote.sock");
        var record = Path.Combine(_dir, "record");
        using var lost = StartListener(socket, record, 65534, readsTheMessage: true);
        var r = Deliver(sink, PublishedBinary.HandOverQmailRemote);
        Assert.That(r.Shown, Is.EqualTo(Accepted));
        AssertDeliveredWhole(sink);
        var seen = File.ReadAllText(record);
        Assert.That(seen, Does.Contain("message: From: s@qremote.test"), "the listener did read through the descriptor");
        Assert.That(seen.Split('\n').Count(l => l.StartsWith("request ", StringComparison.Ordinal)), Is.EqualTo(1), "one attempt only:\n" + seen);
    }

    /// <summary>A listener that binds as root in <see cref="_dir"/> (root's, closed), then listens as <paramref name="uid"/>
    /// (which SO_PEERCRED reports) and records every request; with <paramref name="readsTheMessage"/> it reads the
    /// message through the descriptor, says Accepted, takes the go and closes: a daemon lost before the commit.</summary>
    private ExternalProcess StartListener(string socket, string record, int uid, bool readsTheMessage)
    {
        // The record and the ready mark are written after setuid: both where the listener's user may write.
        var ready = Directory.CreateDirectory(Path.Combine(_dir, "ready")).FullName;
        File.SetUnixFileMode(ready, (UnixFileMode)0b111_111_111);
        File.WriteAllText(record, "");
        File.SetUnixFileMode(record, (UnixFileMode)0b110_110_110);
        var reads = readsTheMessage ? "True" : "False";
        var script = $$"""
            import os, socket, array
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind('{{socket}}'); os.chmod('{{socket}}', 0o666)
            os.setgid({{uid}}); os.setuid({{uid}}); s.listen(4)
            open('{{ready}}/ready', 'w').close()
            while True:
                c, _ = s.accept()
                fds = array.array("i")
                msg, anc, flags, addr = c.recvmsg(65536, socket.CMSG_LEN(4 * fds.itemsize))
                with open('{{record}}', "ab") as f:
                    f.write(b"request %d bytes\n" % len(msg))
                    for level, kind, data in anc:
                        fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                    if {{reads}}:
                        for fd in fds:
                            f.write(b"message: " + os.read(fd, 4096) + b"\n")
                if {{reads}} and msg:
                    c.sendall(b"A"); c.recv(1)
                c.close()
            """;
        var path = Path.Combine(_dir, "listener.py");
        File.WriteAllText(path, script);
        var listener = ExternalProcess.Start("/usr/bin/python3", [path]);
        WaitFor.Condition(() => File.Exists(Path.Combine(ready, "ready")) || listener.HasExited, "the listener listening");
        Assert.That(listener.HasExited, Is.False, listener.Output);
        File.WriteAllText(_home.Control("qremote-daemon"), socket + "\n");
        return listener;
    }
}
