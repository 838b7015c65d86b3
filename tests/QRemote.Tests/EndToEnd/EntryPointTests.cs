using System.Net;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.EndToEnd;

/// <summary>
/// argv as an attacker chooses it: the host is the tail of a recipient address, so a bounce to <c>x@--daemon</c>
/// makes qmail-rspawn run <c>qmail-remote --daemon '' x@--daemon</c>. Started under that name, the published binary
/// must take every argument as a position: each option name is a host like any other (here the default smtproutes
/// route sends every host to smtp-sink), never a mode, a configuration dump or a daemon.
/// </summary>
[NonParallelizable]
public sealed class EntryPointTests
{
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.12");
    private TempQmailHome _home = null!;
    private string _message = "";

    private static readonly string[] OptionNames =
    [
        "--daemon", "--help", "--version", "--verbose", "--show-config", "--plan", "--socket", "--qmail-home",
        "--resolv-conf", "--smtp-port", "--https-port", "--", "--qmail-home=/tmp", "--socket=/tmp/x.sock", "-h", "--selftest", "--tls-report",
    ];

    [SetUp]
    public void MakeHome()
    {
        _home = TempQmailHome.Create();
        _message = Path.Combine(_home.Path, "message");
        File.WriteAllText(_message, "Subject: bounce\n\nbody\n");
    }

    [TearDown]
    public void RemoveHome() => _home.Dispose();

    [Test]
    public void Every_option_name_as_the_host_is_a_host_and_the_message_is_delivered()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        // A default route with a password: --show-config would print it, were it obeyed.
        File.WriteAllText(_home.Control("smtproutes"), $":[{Address}]:{sink.EndPoint.Port}\n");
        foreach (var host in OptionNames)
        {
            var r = QmailRspawn.Run(_home.Path, _message, [host, "", $"x@{host}"]);
            Assert.That(r.ExitCode, Is.Zero, host);
            Assert.That(r.Shown, Is.EqualTo("r\\0K127.0.0.12 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"), host);
        }

        WaitFor.Condition(() => sink.Dumps().Count == OptionNames.Length, "every message at the sink");
        Assert.That(sink.Dumps().Count(d => d.Contains("RCPT TO:<x@--daemon>", StringComparison.Ordinal) || d.Contains("x@--daemon", StringComparison.Ordinal)), Is.EqualTo(1));
    }

    [Test]
    public void Option_names_as_sender_and_recipients_are_positions_too()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        File.WriteAllText(_home.Control("smtproutes"), $"example.test:[{Address}]:{sink.EndPoint.Port}\n");
        var r = QmailRspawn.Run(_home.Path, _message, ["example.test", "--help", "--daemon@example.test", "--version"]);
        // "--version" has no @: the server decides about it; smtp-sink takes any recipient.
        Assert.That(r.Shown, Is.EqualTo("r\\0r\\0K127.0.0.12 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"));
    }

    [Test]
    public void Under_its_person_name_qremote_reads_options_and_never_starts_the_daemon()
    {
        var r = ExternalProcess.Run("/bin/sh", "-c", $"'{PublishedBinary.Path}' --daemon 2>&1 </dev/null | tr '\\0' '|'");
        Assert.That(r, Is.EqualTo("ZQRemote: the daemon is its own program now: run qremote-daemon (docs/daemon.md). (#4.3.0)\n|"));
    }

    [Test]
    public void Show_config_never_prints_an_smtproutes_password()
    {
        File.WriteAllText(_home.Control("smtproutes"), ":[127.0.0.12]:2525 alice s3cret-password\n");
        var r = ExternalProcess.Run(PublishedBinary.Path, $"--qmail-home={_home.Path}", "--show-config");
        Assert.That(r, Does.Contain(":[127.0.0.12]:2525 alice ********"));
        Assert.That(r, Does.Not.Contain("s3cret"));
    }

    [Test]
    public void An_argument_that_is_not_utf8_is_deferred_and_nothing_is_sent()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        File.WriteAllText(_home.Control("smtproutes"), $"example.test:[{Address}]:{sink.EndPoint.Port}\n");
        var cwd = Path.Combine(_home.Path, "queue", "mess");
        Directory.CreateDirectory(cwd);
        var run = ExternalProcess.RunToEnd("/bin/sh",
            ["-c", "exec /usr/bin/env - PATH=/usr/bin:/bin \"$0\" example.test s@qremote.test \"$(printf 'r\\377@example.test')\" <\"$1\" 2>&1",
             PublishedBinary.QmailRemote, _message],
            new() { WorkingDirectory = cwd });
        Assert.That(run.ExitCode, Is.Zero);
        Assert.That(run.Shown,
            Is.EqualTo("ZSorry, an address holds bytes that are not UTF-8; QRemote does not guess what they mean. (#4.3.0)\n\\0"));
        Assert.That(sink.Dumps(), Is.Empty, "no connection, no substituted address");
    }
}
