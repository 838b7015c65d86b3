using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.EndToEnd;

/// <summary>
/// <c>dotnet cake --target=Install</c> (scripts/install.cake) against a qmail home of its own, as root, with the
/// selftest run as <c>nobody</c> (<c>--qmail-user</c>: a test machine has no qmailr) through a BIND of the test's own
/// (<c>QREMOTE_RESOLV_CONF</c>, which the selftest passes on to its child): a binary that passes its selftest is linked
/// in place of qmail-remote; one whose selftest fails (a control file the qmail user cannot read, a resolver that
/// never answers) is refused and nothing in QMAILHOME/bin changes (notqmail #244). <c>--exclusive</c>: the Test target
/// has published the binary already, and publishing again would only cost time.
/// </summary>
[NonParallelizable]
public sealed class InstallTargetTests : IDisposable
{
    private const string Original = "#!/bin/sh\n# stand-in for qmail's own qmail-remote\nprintf 'Zthe original ran.\\n\\0'\n";

    private readonly Bind _bind;
    private readonly SilentDnsServer _silent;
    private readonly string _work;
    private readonly string _home;
    private readonly string _prefix;
    private readonly string _resolvConf;
    private readonly string _silentConf;

    public InstallTargetTests()
    {
        _bind = Bind.Start(new Dictionary<string, string?>
        {
            ["install.test"] = """
                $TTL 300
                @   SOA  ns.install.test. hostmaster.install.test. 1 3600 600 86400 300
                @   NS   ns
                ns  A    127.0.0.1
                @   A    127.0.0.3

                """,
        }, new HashSet<string>());
        _silent = new SilentDnsServer();
        // 0755 all the way down, as /usr/local and /var/qmail are: the qmail user must reach the binary and the queue.
        _work = Directory.CreateTempSubdirectory("qremote-install-").FullName;
        File.SetUnixFileMode(_work, (UnixFileMode)0b111_101_101);
        _home = Path.Combine(_work, "qmail");
        _prefix = Path.Combine(_work, "libexec");
        Directory.CreateDirectory(Path.Combine(_home, "bin"));
        Directory.CreateDirectory(Path.Combine(_home, "control"));
        Directory.CreateDirectory(Path.Combine(_home, "queue", "mess"));
        File.WriteAllText(Path.Combine(_home, "control", "me"), "install.test\n");
        File.WriteAllText(Remote, Original);
        File.SetUnixFileMode(Remote, (UnixFileMode)0b111_001_001);
        _resolvConf = Path.Combine(_work, "resolv.conf");
        File.Copy(_bind.WriteResolvConf(), _resolvConf);
        _silentConf = Path.Combine(_work, "silent.conf");
        File.WriteAllText(_silentConf, $"nameserver 127.0.0.1#{_silent.Port}\noptions timeout:1 attempts:1\n");
        foreach (var conf in new[] { _resolvConf, _silentConf })
        {
            File.SetUnixFileMode(conf, (UnixFileMode)0b110_100_100);
        }
    }

    public void Dispose()
    {
        _bind.Dispose();
        _silent.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    private string Remote => Path.Combine(_home, "bin", "qmail-remote");

    private FinishedProcess Cake(string target, string resolvConf) =>
        ExternalProcess.RunToEnd("dotnet", ["cake", $"--target={target}", "--exclusive", $"--qmail-home={_home}", $"--prefix={_prefix}", "--qmail-user=nobody"],
            new()
            {
                WorkingDirectory = PublishedBinary.RepositoryRoot(),
                Environment = new Dictionary<string, string?> { ["QREMOTE_RESOLV_CONF"] = resolvConf, ["NO_COLOR"] = "1" },
                Timeout = TimeSpan.FromMinutes(3),
            });

    private static string[] Lines(FinishedProcess run) => (run.Text + run.Errors).Split('\n');

    [OneTimeSetUp]
    public void TheBinaryIsPublished() =>
        Assert.That(File.Exists(Path.Combine(PublishedBinary.RepositoryRoot(), "artifacts", "publish", "qremote")), Is.True,
            "Install installs artifacts/publish/qremote: run the Publish target (the Test target does) first");

    [Test]
    public void A_binary_whose_selftest_passes_is_linked_in_place_of_qmail_remote()
    {
        var run = Cake("Install", _resolvConf);
        Assert.That(run.ExitCode, Is.Zero, run.Text + run.Errors);
        Assert.That(Lines(run), Has.Some.StartsWith("install: selftest: ok   process: uid 65534, environment PATH, working directory " + Path.Combine(_home, "queue", "mess")));
        Assert.That(Lines(run), Has.Some.Match(@"^install: selftest: ok   resolver: install\.test A through 127\.0\.0\.1:\d+ .*: 1 address\(es\)"));
        Assert.That(new FileInfo(Remote).LinkTarget, Is.EqualTo(Path.Combine(_prefix, "qremote")));
        Assert.That(File.ReadAllText(Remote + ".orig"), Is.EqualTo(Original));
        Assert.That(_bind.QueryLog(), Has.Some.Contains("query: install.test IN A"), "the selftest asked the configured resolver");

        var back = Cake("Uninstall", _resolvConf);
        Assert.That(back.ExitCode, Is.Zero, back.Text + back.Errors);
        Assert.That(File.ReadAllText(Remote), Is.EqualTo(Original));
        Assert.That(new FileInfo(Remote).LinkTarget, Is.Null);
    }

    [Test]
    public void A_control_file_the_qmail_user_cannot_read_stops_the_install_and_changes_nothing()
    {
        var control = Path.Combine(_home, "control", "outgoingip");
        File.WriteAllText(control, "192.0.2.1\n");
        File.SetUnixFileMode(control, (UnixFileMode)0b110_000_000); // root's only: every delivery as qmailr would defer
        try
        {
            var run = Cake("Install", _resolvConf);
            Assert.That(run.ExitCode, Is.Not.Zero, run.Text + run.Errors);
            Assert.That(Lines(run), Has.Some.StartsWith("install: selftest: FAIL control/outgoingip: exists but cannot be read"));
            Assert.That(run.Text + run.Errors, Does.Contain("was not switched to it and nothing was changed"));
            AssertUntouched();
        }
        finally
        {
            File.Delete(control);
        }
    }

    [Test]
    public void A_resolver_that_never_answers_stops_the_install_and_changes_nothing()
    {
        var run = Cake("Install", _silentConf);
        Assert.That(run.ExitCode, Is.Not.Zero, run.Text + run.Errors);
        Assert.That(Lines(run), Has.Some.Match(@"^install: selftest: FAIL resolver: install\.test A through .*: no answer \(.*\): every delivery by MX would defer$"));
        AssertUntouched();
    }

    private void AssertUntouched()
    {
        Assert.That(new FileInfo(Remote).LinkTarget, Is.Null, "qmail-remote is still qmail's");
        Assert.That(File.ReadAllText(Remote), Is.EqualTo(Original));
        Assert.That(File.Exists(Remote + ".orig"), Is.False);
        Assert.That(File.Exists(Path.Combine(_prefix, "qremote")), Is.False, "no binary left behind");
    }
}
