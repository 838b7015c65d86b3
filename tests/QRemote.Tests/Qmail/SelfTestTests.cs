using QRemote.Qmail;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Qmail;

/// <summary>
/// <c>qremote --selftest</c> with the published binary, run as root as an installer runs it: it runs its checks again
/// as the qmail user (<c>nobody</c> here, through QREMOTE_SELFTEST_USER: a test machine has no qmailr) with qmail's
/// empty environment, in the queue. A good home passes; a control file the user cannot read, a resolver that never
/// answers and a clientcert.pem that does not load each fail with their own line and exit 1.
/// </summary>
[NonParallelizable]
public sealed class SelfTestTests : IDisposable
{
    private readonly Bind _bind;
    private readonly string _shared;
    private readonly string _resolvConf;

    public SelfTestTests()
    {
        _bind = Bind.Start(new Dictionary<string, string?>
        {
            ["qremote.test"] = """
                $TTL 300
                @   SOA  ns.qremote.test. hostmaster.qremote.test. 1 3600 600 86400 300
                @   NS   ns
                ns  A    127.0.0.1
                @   A    127.0.0.3
                named A  127.0.0.4

                """,
        }, new HashSet<string>());
        // Where nobody can read them (the fixtures' own directories are root's only).
        _shared = Directory.CreateTempSubdirectory("qremote-selftest-").FullName;
        File.SetUnixFileMode(_shared, (UnixFileMode)0b111_101_101);
        _resolvConf = Path.Combine(_shared, "resolv.conf");
        File.Copy(_bind.WriteResolvConf(), _resolvConf);
        File.SetUnixFileMode(_resolvConf, (UnixFileMode)0b110_100_100);
    }

    public void Dispose()
    {
        _bind.Dispose();
        Directory.Delete(_shared, recursive: true);
    }

    private static TempQmailHome Home()
    {
        var home = TempQmailHome.Create();
        Directory.CreateDirectory(Path.Combine(home.Path, "queue", "mess"));
        return home;
    }

    private static FinishedProcess SelfTest(TempQmailHome home, string resolvConf, string user = "nobody", params string[] more) =>
        ExternalProcess.RunToEnd(PublishedBinary.Path, ["--selftest", $"--qmail-home={home.Path}", $"--resolv-conf={resolvConf}", .. more],
            new() { Environment = new Dictionary<string, string?> { [QRemote.Qmail.SelfTest.UserVariable] = user }, Timeout = TimeSpan.FromSeconds(60) });

    private static string[] Lines(FinishedProcess run) => run.Text.TrimEnd('\n').Split('\n');

    [Test]
    public void A_good_home_passes_every_check_as_the_qmail_user_with_an_empty_environment()
    {
        using var home = Home();
        var run = SelfTest(home, _resolvConf);
        Assert.That(run.ExitCode, Is.Zero, run.Text + run.Errors);
        var lines = Lines(run);
        Assert.That(lines, Has.None.StartsWith("FAIL"));
        Assert.That(lines, Has.Member("ok   nobody: uid 65534, gid 65534 (/etc/passwd)"));
        Assert.That(lines, Has.Member($"ok   queue: the checks run in {home.Path}/queue/mess, as qmail-rspawn runs qmail-remote"));
        Assert.That(lines, Has.Member($"ok   process: uid 65534, environment PATH, working directory {home.Path}/queue/mess"),
            "the child is the qmail user, with PATH alone, in the queue");
        Assert.That(lines, Has.Member("ok   control/me: readable: qremote.test"));
        Assert.That(lines, Has.Member($"ok   control files: {home.Path}/control: every setting reads (helohost qremote.test)"));
        Assert.That(lines, Has.Some.Match(@"^ok   resolver: qremote\.test A through 127\.0\.0\.1:\d+ \(from .*resolv\.conf\): answered in \d+ ms: 1 address\(es\)$"));
        Assert.That(lines, Has.Some.StartsWith("ok   dnssec: AD bit: trusted (loopback resolver)"));
        Assert.That(lines, Has.Some.Match(@"^ok   openssl: libssl loads; ""DEFAULT"" selects \d+ TLS 1\.2 suite\(s\)$"));
        Assert.That(lines, Has.Some.Match(@"^ok   trust store: /etc/ssl/certs/ca-certificates\.crt: \d+ root\(s\)"));
        Assert.That(lines, Has.None.Contains("clientcert.pem:"), "no clientcert.pem, nothing to load");
        Assert.That(BindLog(), Has.Some.Contains("query: qremote.test IN A"), "a real lookup, through the configured resolver");
    }

    private IReadOnlyList<string> BindLog() => _bind.QueryLog();

    [Test]
    public void Files_that_hold_passwords_are_said_to_be_readable_and_never_shown()
    {
        using var home = Home();
        home.WriteControl("authsenders", "info@qremote.test:relay.qremote.test:587|info@qremote.test|sekrit-one\n");
        home.WriteControl("smtproutes", "qremote.test:relay.qremote.test:587 user sekrit-two\n");
        var run = SelfTest(home, _resolvConf);
        Assert.That(run.ExitCode, Is.Zero, run.Text + run.Errors);
        Assert.That(Lines(run), Has.Member("ok   control/authsenders: readable"));
        Assert.That(Lines(run), Has.Member("ok   control/smtproutes: readable"));
        Assert.That(run.Text + run.Errors, Does.Not.Contain("sekrit"));
    }

    [Test]
    public void A_name_given_is_the_one_looked_up()
    {
        using var home = Home();
        var run = SelfTest(home, _resolvConf, "nobody", "named.qremote.test");
        Assert.That(run.ExitCode, Is.Zero, run.Text);
        Assert.That(Lines(run), Has.Some.StartsWith("ok   resolver: named.qremote.test A through "));
        var missing = SelfTest(home, _resolvConf, "nobody", "nothing.qremote.test");
        Assert.That(missing.ExitCode, Is.Zero, "the resolver answered, if only to say there is no such name");
        Assert.That(Lines(missing), Has.Some.Match(@"^ok   resolver: nothing\.qremote\.test A .*: no such name$"));
    }

    [Test]
    public void A_control_file_the_qmail_user_cannot_read_fails()
    {
        using var home = Home();
        File.SetUnixFileMode(home.WriteControl("timeoutremote", "30\n"), (UnixFileMode)0b110_000_000); // root's only
        var run = SelfTest(home, _resolvConf);
        Assert.That(run.ExitCode, Is.EqualTo(1), run.Text);
        var lines = Lines(run);
        Assert.That(lines, Has.Member("FAIL control/timeoutremote: exists but cannot be read (Permission denied): every delivery would defer"));
        Assert.That(lines, Has.Some.StartsWith("FAIL control files: "));
        Assert.That(lines.Count(l => l.StartsWith("FAIL", StringComparison.Ordinal)), Is.EqualTo(2), run.Text);
        Assert.That(lines, Has.Some.StartsWith("ok   resolver: "), "the other checks still run");

        // As root it reads: the check is the qmail user's, not the caller's.
        var asRoot = ExternalProcess.RunToEnd(PublishedBinary.Path, ["--selftest-child", $"--qmail-home={home.Path}", $"--resolv-conf={_resolvConf}"]);
        Assert.That(asRoot.ExitCode, Is.Zero, asRoot.Text);
    }

    [Test]
    public void A_junk_control_file_fails_as_a_delivery_would()
    {
        using var home = Home();
        home.WriteControl("outgoingip", "not an address\n");
        var run = SelfTest(home, _resolvConf);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(Lines(run), Has.Some.Match(@"^FAIL control files: .*outgoingip.*not an IP address: not an address.*every delivery would defer"));
    }

    [Test]
    public void A_resolver_that_does_not_answer_fails()
    {
        using var silent = new SilentDnsServer();
        var resolv = Path.Combine(_shared, "silent.conf");
        File.WriteAllText(resolv, $"nameserver 127.0.0.1#{silent.Port}\noptions timeout:1 attempts:1\n");
        File.SetUnixFileMode(resolv, (UnixFileMode)0b110_100_100);
        using var home = Home();
        var run = SelfTest(home, resolv);
        Assert.That(run.ExitCode, Is.EqualTo(1), run.Text);
        var lines = Lines(run);
        Assert.That(lines, Has.Some.Match($@"^FAIL resolver: qremote\.test A through 127\.0\.0\.1:{silent.Port} \(from .*silent\.conf\): no answer \(.*\): every delivery by MX would defer$"));
        Assert.That(lines.Count(l => l.StartsWith("FAIL", StringComparison.Ordinal)), Is.EqualTo(1), run.Text);
    }

    [Test]
    public void A_resolv_conf_the_qmail_user_cannot_read_fails()
    {
        var resolv = Path.Combine(_shared, "private.conf");
        File.Copy(_resolvConf, resolv);
        File.SetUnixFileMode(resolv, (UnixFileMode)0b110_000_000);
        using var home = Home();
        var run = SelfTest(home, resolv);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(Lines(run), Has.Some.Match(@"^FAIL resolver: .*private\.conf cannot be read"));
    }

    [TestCase("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n", "FAIL clientcert.pem: does not load (")]
    [TestCase("junk\n", "FAIL clientcert.pem: does not load (")]
    [TestCase(null, "FAIL clientcert.pem: no private key in it")]
    public void A_broken_clientcert_pem_fails(string? contents, string line)
    {
        using var home = Home();
        using var ca = new TestCa("selftest CA");
        var path = home.WriteControl("clientcert.pem", contents ?? File.ReadAllText(ca.CertificateFile));
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
        var run = SelfTest(home, _resolvConf);
        Assert.That(run.ExitCode, Is.EqualTo(1), run.Text);
        Assert.That(Lines(run), Has.Some.StartsWith(line));
        Assert.That(Lines(run).Count(l => l.StartsWith("FAIL", StringComparison.Ordinal)), Is.EqualTo(1), run.Text);
    }

    [Test]
    public void A_good_clientcert_pem_passes()
    {
        using var home = Home();
        using var ca = new TestCa("selftest CA");
        var issued = ca.Issue("client", "client.qremote.test");
        var path = home.WriteControl("clientcert.pem", File.ReadAllText(issued.KeyFile) + File.ReadAllText(issued.CertificateFile));
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
        var run = SelfTest(home, _resolvConf);
        Assert.That(run.ExitCode, Is.Zero, run.Text);
        Assert.That(Lines(run), Has.Some.Match(@"^ok   clientcert\.pem: .*, with its key, valid until "));
    }

    [Test]
    public void Without_the_qmail_user_or_the_queue_it_fails_before_running_anything()
    {
        using var home = Home();
        var run = SelfTest(home, _resolvConf, "no-such-user-here");
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(Lines(run), Has.Member("FAIL no-such-user-here: no such user in /etc/passwd: qmail-rspawn runs qmail-remote as it"));
        Assert.That(Lines(run), Has.None.StartsWith("ok   process:"), "no child ran");

        var root = SelfTest(home, _resolvConf, "root");
        Assert.That(Lines(root), Has.Member("FAIL root: has uid 0: qmail-remote must not run as root"));

        Directory.Delete(Path.Combine(home.Path, "queue"), recursive: true);
        var noQueue = SelfTest(home, _resolvConf);
        Assert.That(noQueue.ExitCode, Is.EqualTo(1));
        Assert.That(Lines(noQueue), Has.Member($"FAIL queue: {home.Path}/queue does not exist: qmail-rspawn runs qmail-remote there"));
    }

    [Test]
    public void Not_run_as_root_it_checks_as_the_caller_and_says_so()
    {
        using var home = Home();
        var run = ExternalProcess.RunToEnd("/usr/bin/setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", PublishedBinary.Path, "--selftest", $"--qmail-home={home.Path}", $"--resolv-conf={_resolvConf}"]);
        Assert.That(run.ExitCode, Is.Zero, run.Text);
        Assert.That(Lines(run)[0], Is.EqualTo("note: not root: the checks are made as uid 65534, not as qmailr with qmail's empty environment; run as root for that"));
        Assert.That(Lines(run), Has.Some.StartsWith("ok   process: uid 65534, "));
    }

    [Test]
    public void Under_the_qmail_remote_name_selftest_is_a_position_not_an_option()
    {
        var run = ExternalProcess.RunToEnd(PublishedBinary.QmailRemote, ["--selftest"]);
        Assert.That(run.Shown, Is.EqualTo("DI (qmail-remote) was invoked improperly. (#5.3.5)\n\\0"));
    }

    [Test]
    public void The_passwd_entry_is_read_field_by_field()
    {
        var passwd = Path.Combine(_shared, "passwd");
        File.WriteAllText(passwd, "junk\nqmailr:x:notanumber:1\n#qmailr:x:5:5::/:/bin/false\nqmaild:x:1001:1001::/var/qmail:/bin/false\nqmailr:x:1002:1003::/var/qmail:/bin/false\n");
        Assert.That(QRemote.Qmail.SelfTest.PasswdEntry("qmailr", passwd), Is.EqualTo(((uint)1002, (uint)1003)));
        Assert.That(QRemote.Qmail.SelfTest.PasswdEntry("nobody-here", passwd), Is.Null);
        Assert.That(QRemote.Qmail.SelfTest.PasswdEntry("qmailr", "/nonexistent/passwd"), Is.Null);
    }
}
