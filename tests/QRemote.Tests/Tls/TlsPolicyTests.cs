using System.Net;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Tls;

/// <summary>
/// The TLS patch's control files against a real Postfix with certificates made here:
/// <c>control/tlshosts/MX.pem</c> requires verified TLS (never plain text); <c>control/notlshosts/MX</c>
/// turns STARTTLS off. The exchanger is <c>mx1.plain.qremote.test</c> (127.0.0.10) from the test zone.
/// </summary>
[NonParallelizable]
public sealed class TlsPolicyTests
{
    private const string Mx = "mx1.plain.qremote.test";
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.10");
    private readonly Dictionary<string, TestCa> _cas = [];
    private readonly Dictionary<string, Issued> _certificates = [];
    private TempQmailHome _home = null!;

    [OneTimeSetUp]
    public void MakeCertificates()
    {
        _cas["ca"] = new TestCa("QRemote test ca");
        _cas["otherca"] = new TestCa("QRemote test otherca");
        _certificates["server"] = _cas["ca"].Issue("server", Mx);
        _certificates["wrongname"] = _cas["ca"].Issue("wrongname", "somebody-else.example");
    }

    [OneTimeTearDown]
    public void RemoveCertificates()
    {
        foreach (var ca in _cas.Values)
        {
            ca.Dispose();
        }
    }

    [SetUp]
    public void MakeHome()
    {
        _home = TempQmailHome.Create(me: null);
        Directory.CreateDirectory(_home.Control("tlshosts"));
        Directory.CreateDirectory(_home.Control("notlshosts"));
    }

    [TearDown]
    public void RemoveHome() => _home.Dispose();

    private PostfixServer Postfix(int port, string certificate) => PostfixServer.StartOn(Address, port,
        ("smtpd_tls_security_level", "may"), ("smtpd_tls_cert_file", _certificates[certificate].CertificateFile),
        ("smtpd_tls_key_file", _certificates[certificate].KeyFile));

    private Task<string> Deliver(int port) => Harness.DeliverAsync("plain.qremote.test", "s@qremote.test", ["r@plain.qremote.test"],
        Encoding.UTF8.GetBytes("Subject: policy\n\nbody\n"), new() { SmtpPort = port, ResolvConf = DnsFixture.ResolvConf, QmailHome = _home.Path });

    private void RequireTls(string ca) => File.Copy(_cas[ca].CertificateFile, _home.Control("tlshosts", Mx + ".pem"));

    [Test]
    public async Task Tlshosts_with_the_right_ca_and_name_delivers_over_verified_tls()
    {
        RequireTls("ca");
        var port = FreePort.Tcp(Address);
        using var postfix = Postfix(port, "server");
        var report = await Deliver(port);
        Assert.That(report, Does.StartWith("r\\0K127.0.0.10 accepted message."));
        Assert.That(report, Does.EndWith("\nTLS: TLSv1.3, certificate verified\n\\0"));
        postfix.WaitForLog("starttls=1");
    }

    [TestCase("otherca", "server", "RemoteCertificateChainErrors")]
    [TestCase("ca", "wrongname", "RemoteCertificateNameMismatch")]
    public async Task Tlshosts_refuses_a_certificate_it_cannot_verify_and_never_falls_back(string ca, string certificate, string why)
    {
        RequireTls(ca);
        var port = FreePort.Tcp(Address);
        using var postfix = Postfix(port, certificate);
        Assert.That(await Deliver(port), Is.EqualTo(
            $"ZConnected to 127.0.0.10 but its TLS certificate did not verify against control/tlshosts/{Mx}.pem ({why}). (#4.7.1)\n\\0"));
        postfix.WaitForLog("disconnect from");
        Assert.That(postfix.Log, Does.Not.Contain("mail=1"), "no MAIL FROM in plain text, ever");
    }

    [Test]
    public async Task Tlshosts_and_a_server_without_starttls_is_a_deferral()
    {
        RequireTls("ca");
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        Assert.That(await Deliver(sink.EndPoint.Port), Is.EqualTo(
            $"ZConnected to 127.0.0.10 but it does not offer STARTTLS, which control/tlshosts/{Mx}.pem requires. (#4.7.1)\n\\0"));
        Assert.That(sink.Dumps(), Is.Empty);
    }

    [Test]
    public async Task Notlshosts_turns_starttls_off_even_when_offered()
    {
        File.WriteAllText(_home.Control("notlshosts", Mx), "");
        var port = FreePort.Tcp(Address);
        using var postfix = Postfix(port, "server");
        var report = await Deliver(port);
        Assert.That(report, Does.StartWith("r\\0K127.0.0.10 accepted message."));
        Assert.That(report, Does.EndWith("\nTLS: none, turned off by control/notlshosts\n\\0"));
        postfix.WaitForLog("disconnect from");
        Assert.That(postfix.Log, Does.Not.Contain("starttls"));
    }

    [Test]
    public async Task Without_a_policy_file_tls_is_opportunistic_and_unverified()
    {
        var port = FreePort.Tcp(Address);
        using var postfix = Postfix(port, "wrongname"); // a certificate no one could verify
        var report = await Deliver(port);
        Assert.That(report, Does.StartWith("r\\0K127.0.0.10 accepted message."));
        Assert.That(report, Does.EndWith("\nTLS: TLSv1.3, not verified\n\\0"));
        postfix.WaitForLog("starttls=1");
    }
}
