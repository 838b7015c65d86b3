using System.Net;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Daemon;

/// <summary>
/// The boundary between a delivery process and whatever listens at the daemon's socket path, tried with the published
/// binary run as qmail-rspawn runs it (as nobody, positions only): an impostor in a directory anyone can write, an
/// impostor of another uid, a daemon of another protocol version or other settings, and the two-way commit.
/// </summary>
[NonParallelizable]
public sealed class HandOverTrustTests
{
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.12");
    private const string Accepted = "r\\0K127.0.0.12 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0";
    private TempQmailHome _home = null!;
    private string _message = "";
    private string _dir = "";
    private string _records = "";

    [SetUp]
    public void MakeHome()
    {
        _home = TempQmailHome.Create();
        _message = Path.Combine(_home.Path, "message");
        File.WriteAllText(_message, "Subject: secret queue file\n\nbody\n");
        _dir = Directory.CreateTempSubdirectory("qremote-sockdir-").FullName;
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_101_101);
        _records = Path.Combine(_dir, "records");
        Directory.CreateDirectory(_records);
        File.SetUnixFileMode(_records, (UnixFileMode)0b111_111_111);
    }

    [TearDown]
    public void Remove()
    {
        _home.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private RspawnResult Deliver(IPEndPoint sink, string socket)
    {
        File.WriteAllText(_home.Control("smtproutes"), $"example.test:[{sink.Address}]:{sink.Port}\n");
        File.WriteAllText(_home.Control("qremote-daemon"), socket + "\n");
        return QmailRspawn.Run(_home.Path, _message, ["example.test", "s@qremote.test", "rcpt@example.test"]);
    }

    /// <summary>A listener that binds as root, then runs (and listens, which is what SO_PEERCRED reports) as
    /// <paramref name="uid"/>. It records whatever reaches it, the message through the descriptor included, and
    /// answers as a daemon would, with a forged K.</summary>
    private static ExternalProcess StartImpostor(string socket, string record, int uid)
    {
        var script = $$"""
            import os, socket, array
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind({{Quote(socket)}}); os.chmod({{Quote(socket)}}, 0o666)
            os.setgid({{uid}}); os.setuid({{uid}}); s.listen(4)
            open({{Quote(record + ".ready")}}, "w").close() # in a directory anyone can write
            while True:
                c, _ = s.accept()
                fds = array.array("i")
                msg, anc, flags, addr = c.recvmsg(65536, socket.CMSG_LEN(4 * fds.itemsize))
                with open({{Quote(record)}}, "ab") as f:
                    f.write(b"request %d bytes\n" % len(msg))
                    for level, kind, data in anc:
                        fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                    for fd in fds:
                        f.write(b"message: " + os.read(fd, 100) + b"\n")
                report = b"r\0Kforged\0"
                c.sendall(b"A"); go = c.recv(1); c.sendall(b"W"); c.sendall(b"D"); confirm = c.recv(1)
                with open({{Quote(record)}}, "ab") as f:
                    f.write(b"go: " + go + b", confirm: " + confirm + b"\n")
                c.sendall(b"W" + b"R" + len(report).to_bytes(4, "big") + report); c.close()
            """;
        var path = record + ".py";
        File.WriteAllText(path, script);
        return ExternalProcess.Start("/usr/bin/python3", [path]);
    }

    private static string Quote(string s) => "'" + s + "'"; // temporary paths: no quote or backslash in them

    private void AssertImpostorIgnored(string socketDirectory, int uid)
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        var record = Path.Combine(_records, "record");
        var socket = Path.Combine(socketDirectory, "qremote.sock");
        var impostor = StartImpostor(socket, record, uid);
        try
        {
            WaitFor.Condition(() => File.Exists(record + ".ready") || impostor.HasExited, "the impostor listening");
            Assert.That(impostor.HasExited, Is.False, impostor.Output);
            var r = Deliver(sink.EndPoint, socket);
            Assert.That(r.Shown, Is.EqualTo(Accepted), "delivered by the process itself, not the impostor's forged K");
            // At most a connection that closed at once (the peer is checked once connected): no request, no descriptor.
            Assert.That(File.Exists(record) ? File.ReadAllText(record) : "", Is.Empty.Or.EqualTo("request 0 bytes\n"));
        }
        finally
        {
            impostor.Dispose();
        }
    }

    [Test]
    public void A_socket_in_a_directory_anyone_can_write_gets_no_descriptor_and_no_say()
    {
        var open = Path.Combine(_dir, "open");
        Directory.CreateDirectory(open);
        File.SetUnixFileMode(open, (UnixFileMode)0b111_111_111); // as /tmp is, less the sticky bit
        AssertImpostorIgnored(open, 65534); // even as the process's own user: anyone could have put it there
    }

    [Test]
    public void A_socket_where_another_user_listens_gets_no_descriptor_and_no_say() =>
        AssertImpostorIgnored(_dir, 4321); // the directory is root's and closed: only the peer check stops it

    [Test]
    public void The_same_impostor_as_the_processs_own_user_in_a_closed_directory_is_believed()
    {
        // The control for the two above: the check is on who listens and where, not on the protocol.
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        var record = Path.Combine(_records, "record");
        var socket = Path.Combine(_dir, "qremote.sock");
        var impostor = StartImpostor(socket, record, 65534);
        try
        {
            WaitFor.Condition(() => File.Exists(record + ".ready") || impostor.HasExited, "the impostor listening");
            var r = Deliver(sink.EndPoint, socket);
            Assert.That(r.Shown, Is.EqualTo("r\\0Kforged\\0"), "the report of a peer that passes both checks is taken");
            Assert.That(File.ReadAllText(record), Does.Contain("message: Subject: secret queue file"));
            Assert.That(File.ReadAllText(record), Does.Contain("go: G, confirm: C\n"), "the commit is two-way: the client confirmed it");
        }
        finally
        {
            impostor.Dispose();
        }
    }
}
