using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using QRemote.Delivery;
using QRemote.Tests.Infrastructure;
using QRemote.Tests.Tls.MtaSts;

namespace QRemote.Tests.Tls;

/// <summary>
/// MTA-STS (RFC 8461) in whole deliveries: BIND serves the <c>_mta-sts</c> records and MX, <c>openssl s_server
/// -WWW</c> serves the policies over HTTPS, Postfix is the exchanger, and one CA made here is the "WebPKI".
/// Enforce refuses an MX outside the policy's patterns and a certificate that does not verify, never falling
/// back to plain text; testing only logs.
/// </summary>
[NonParallelizable]
public sealed class MtaStsDeliveryTests : IDisposable
{
    private static readonly IPAddress PolicyAddress = IPAddress.Parse("127.0.0.91");
    private readonly TestCa _ca = new("MTA-STS Delivery Test CA");
    private PostfixServer? _postfix;
    private PostfixServer? _wrongName;
    private OpensslPolicyServer? _policies;
    private Bind? _bind;
    private string _cache = "";
    private string _resolvConf = "";

    [OneTimeSetUp]
    public void Start()
    {
        var mx = _ca.Issue("mx", "mx.enforce.sts.test", "mx.outside.sts.test", "mx.testing.sts.test");
        var other = _ca.Issue("other", "somebody.else.test");
        var web = _ca.Issue("web", "mta-sts.enforce.sts.test", "mta-sts.outside.sts.test", "mta-sts.testing.sts.test", "mta-sts.wrongname.sts.test",
            "mta-sts.xn--bcher-kva.sts.test", "mta-sts.xn--mnchen-3ya.sts.test");
        _postfix = PostfixServer.Start(("smtpd_tls_security_level", "may"), ("smtpd_tls_chain_files", $"{mx.KeyFile}, {mx.ChainFile}"), ("smtpd_tls_loglevel", "1"));
        _wrongName = PostfixServer.StartOn(IPAddress.Parse("127.0.0.92"), _postfix.EndPoint.Port,
            ("smtpd_tls_security_level", "may"), ("smtpd_tls_chain_files", $"{other.KeyFile}, {other.ChainFile}"), ("smtpd_tls_loglevel", "1"));
        // One policy file for every domain: enforce, mx patterns naming the exchangers of enforce and wrongname,
        // and testing's only by way of a pattern that does not match (testing must deliver regardless).
        _policies = OpensslPolicyServer.Start(PolicyAddress, web.CertificateFile, web.KeyFile,
            Encoding.ASCII.GetBytes("version: STSv1\r\nmode: enforce\r\nmx: mx.enforce.sts.test\r\nmx: *.wrongname.sts.test\r\nmax_age: 86400\r\n"));
        var zone = """
            $TTL 300
            @              SOA  ns.sts.test. hostmaster.sts.test. 1 3600 600 86400 300
            @              NS   ns
            ns             A    127.0.0.1
            enforce        MX   10 mx.enforce
            mx.enforce     A    127.0.0.3
            _mta-sts.enforce TXT "v=STSv1; id=20261125"
            mta-sts.enforce A   127.0.0.91
            outside        MX   10 mx.outside
            mx.outside     A    127.0.0.3
            _mta-sts.outside TXT "v=STSv1; id=20261125"
            mta-sts.outside A   127.0.0.91
            wrongname      MX   10 mx.wrongname
            mx.wrongname   A    127.0.0.92
            _mta-sts.wrongname TXT "v=STSv1; id=20261125"
            mta-sts.wrongname A 127.0.0.91
            nopolicy       MX   10 mx.outside
            xn--bcher-kva  MX   10 mx.enforce
            _mta-sts.xn--bcher-kva TXT "v=STSv1; id=20261126"
            mta-sts.xn--bcher-kva A 127.0.0.91
            xn--mnchen-3ya MX   10 mx.outside
            _mta-sts.xn--mnchen-3ya TXT "v=STSv1; id=20261126"
            mta-sts.xn--mnchen-3ya A 127.0.0.91

            """;
        _bind = Bind.Start(new Dictionary<string, string?> { ["sts.test"] = zone }, new HashSet<string>());
        _resolvConf = _bind.WriteResolvConf();
        _cache = Path.Combine(_ca.Directory, "sts-cache");
        Directory.CreateDirectory(_cache);
    }

    public void Dispose()
    {
        _policies?.Dispose();
        _bind?.Dispose();
        _wrongName?.Dispose();
        _postfix?.Dispose();
        _ca.Dispose();
    }

    private async Task<(string Report, string Transcript)> DeliverAsync(string domain, string sender, string message = "Subject: sts\n\nhello\n", string? recipient = null)
    {
        var text = new StringWriter();
        var transcript = TextWriter.Synchronized(text);
        var config = Harness.Config() with { MtaStsCacheDirectory = _cache };
        var roots = new Lazy<X509Certificate2Collection>(() => [_ca.Certificate]);
        var report = await Harness.DeliverAsync(domain, sender, [recipient ?? $"rcpt@{domain}"], Encoding.UTF8.GetBytes(message), new()
        {
            Config = config, SmtpPort = _postfix!.EndPoint.Port, ResolvConf = _resolvConf, Transcript = transcript,
            MtaSts = MtaStsRequirement.For(config, roots, TimeProvider.System, transcript, _policies!.Port),
        });
        return (report, text.ToString());
    }

    [Test]
    public async Task Enforce_delivers_over_verified_tls_to_an_mx_in_the_policy()
    {
        var (report, transcript) = await DeliverAsync("enforce.sts.test", "enforce@sts.test");
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        Assert.That(transcript, Does.Contain("mta-sts: enforce.sts.test: enforce, id 20261125"));
        Assert.That(transcript, Does.Contain("tls policy for mx.enforce.sts.test: MtaSts (MTA-STS enforce for enforce.sts.test, id 20261125)"));
        Assert.That(transcript, Does.Match(@"tls: Tls1[23] \w+, certificate verified \(MTA-STS"));
        Assert.That(report, Does.EndWith("\nTLS: TLSv1.3, MTA-STS verified\n\\0"));
        _postfix!.WaitForLog("from=<enforce@sts.test>");
    }

    [Test]
    public async Task Enforce_refuses_an_mx_outside_the_policy()
    {
        var (report, _) = await DeliverAsync("outside.sts.test", "outside@sts.test");
        Assert.That(report, Is.EqualTo(
            "ZNo mail exchanger can be used under the TLS policy: MTA-STS enforce for outside.sts.test, id 20261125: mx.outside.sts.test is not in the policy's mx list. (#4.7.5)\n\\0"));
        Assert.That(_postfix!.Log, Does.Not.Contain("from=<outside@sts.test>"));
    }

    [Test]
    public async Task Enforce_refuses_a_certificate_that_does_not_name_the_mx()
    {
        var (report, transcript) = await DeliverAsync("wrongname.sts.test", "wrongname@sts.test");
        Assert.That(report, Does.StartWith("ZConnected to 127.0.0.92 but its TLS certificate did not verify against MTA-STS enforce for wrongname.sts.test"));
        Assert.That(report, Does.Contain("RemoteCertificateNameMismatch"));
        Assert.That(transcript, Does.Not.Contain("retrying"), "never plain text under enforce");
        Assert.That(_wrongName!.Log, Does.Not.Contain("from=<wrongname@sts.test>"));
    }

    [Test]
    public async Task Without_a_policy_the_same_mx_is_opportunistic()
    {
        var (report, transcript) = await DeliverAsync("nopolicy.sts.test", "nopolicy@sts.test");
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        Assert.That(transcript, Does.Contain("mta-sts: nopolicy.sts.test: no _mta-sts.nopolicy.sts.test record"));
    }

    [Test]
    public async Task Tls_required_no_waives_mta_sts()
    {
        var (report, transcript) = await DeliverAsync("outside.sts.test", "waived-sts@sts.test", "TLS-Required: No\nSubject: sts\n\nhello\n");
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        Assert.That(transcript, Does.Contain("MTA-STS waived by TLS-Required: No"));
    }

    [Test]
    public async Task A_u_label_domain_gets_its_policy_by_its_a_labels_and_enforce_delivers()
    {
        // The host as qmail passes it (UTF-8 U-labels); BIND knows only xn--bcher-kva; its MX is in the policy.
        var (report, transcript) = await DeliverAsync("bücher.sts.test", "idn@sts.test", recipient: "rcpt@xn--bcher-kva.sts.test");
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."), transcript);
        Assert.That(transcript, Does.Contain("mta-sts: bücher.sts.test: enforce, id 20261126, max_age 86400, fetched"));
        Assert.That(transcript, Does.Contain("tls policy for mx.enforce.sts.test: MtaSts (MTA-STS enforce for bücher.sts.test, id 20261126)"));
        Assert.That(File.Exists(Path.Combine(_cache, "xn--bcher-kva.sts.test")), Is.True, "cached under its A-labels");
        _postfix!.WaitForLog("from=<idn@sts.test>");
    }

    [Test]
    public async Task A_u_label_domain_under_enforce_refuses_an_mx_outside_its_policy()
    {
        var (report, transcript) = await DeliverAsync("münchen.sts.test", "idn-outside@sts.test", recipient: "rcpt@xn--mnchen-3ya.sts.test");
        Assert.That(report, Does.StartWith("ZNo mail exchanger can be used under the TLS policy: MTA-STS enforce for ").And.Contain("mx.outside.sts.test is not in the policy's mx list."), transcript);
        Assert.That(_postfix!.Log, Does.Not.Contain("from=<idn-outside@sts.test>"));
    }

    [Test]
    public async Task A_host_that_is_not_a_valid_idn_gets_no_policy_and_is_delivered_as_before()
    {
        // Hostile code points in the host (a symbol, U+FFFD as undecodable bytes become): no policy, no crash; the
        // delivery goes on to its MX lookup, which finds no such domain.
        foreach (var host in new[] { "bü\u2603cher.sts.test", "b\uFFFDcher.sts.test" })
        {
            var (report, transcript) = await DeliverAsync(host, "hostile@sts.test", recipient: "rcpt@sts.test");
            // (The MTA-STS line may come after the report: the MX lookup's NXDOMAIN ends the delivery first. MtaStsIdnTests
            // checks that such names get no policy and no DNS question.)
            Assert.That(report, Does.StartWith("D").Or.StartWith("Z"), transcript);
            Assert.That(report, Does.Not.Contain("unexpected"));
        }
    }

    [Test]
    public void The_published_binary_takes_its_webpki_roots_from_ssl_cert_file_and_caches_the_policy()
    {
        // AOT, SystemTrust.Hide and the lazy roots together: the binary hides the system store from .NET, then
        // reads the bundle SSL_CERT_FILE named (here the test CA) when the policy fetch needs it.
        using var home = TempQmailHome.Create();
        var cache = Path.Combine(_ca.Directory, "binary-cache");
        Directory.CreateDirectory(cache);
        home.WriteControl("qremote-mta-sts-cache", cache + "\n");
        var run = ExternalProcess.RunToEnd(PublishedBinary.Path,
            [$"--qmail-home={home.Path}", $"--resolv-conf={_resolvConf}", $"--smtp-port={_postfix!.EndPoint.Port}",
             $"--https-port={_policies!.Port}", "enforce.sts.test", "binary@sts.test", "rcpt@enforce.sts.test"],
            new()
            {
                Input = Encoding.UTF8.GetBytes("Subject: binary sts\n\nhello\n"),
                Environment = new Dictionary<string, string?> { ["SSL_CERT_FILE"] = _ca.CertificateFile },
                Timeout = TimeSpan.FromSeconds(30),
            });
        Assert.That(run.Text, Does.StartWith("r\0K127.0.0.3 accepted message."), run.Errors);
        _postfix.WaitForLog("from=<binary@sts.test>");
        Assert.That(Directory.GetFiles(cache).Select(Path.GetFileName), Has.Some.Contains("enforce.sts.test"), "the policy was cached where control/qremote-mta-sts-cache says");
    }
}
