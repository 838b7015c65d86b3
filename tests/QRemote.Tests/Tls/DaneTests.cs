using System.Net;
using System.Security.Cryptography;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Tls;

/// <summary>
/// DANE (RFC 7672) end to end with real peers: a Postfix smtpd with a certificate issued by a CA made here,
/// a BIND9 serving a signed zone with TLSA records for it, and a validating Unbound trusting that zone's
/// key, so the AD bit is real. Every policy path fails if the policy is ignored: a mismatching TLSA
/// refuses the delivery (and nothing reaches the server), never falling back to plain text.
/// </summary>
[NonParallelizable]
public sealed class DaneTests : IDisposable
{
    private TestCa? _ca;
    private PostfixServer? _postfix;
    private Bind? _bind;
    private GarbageDnsServer? _garbage;
    private Unbound? _unbound;
    private string _resolvConf = "";
    private int _port;

    private PostfixServer Postfix => _postfix!;

    [OneTimeSetUp]
    public void Start()
    {
        _ca = new TestCa("DANE Test CA");
        var names = new[] { "good", "ta", "bad", "fail", "notls", "pkix" }.Select(n => $"mx.{n}.dane.test").Concat(["mx.loose.insecure.test"]).ToArray();
        var server = _ca.Issue("mx", names);
        // A certificate the server presents only to a client asking for real.sni.dane.test by SNI (Postfix's SNI
        // table: key first, then the chain); the default one above does not name it.
        var sni = _ca.Issue("sni", "real.sni.dane.test");
        var sniChain = Path.Combine(_ca.Directory, "sni-key-chain.pem");
        File.WriteAllText(sniChain, File.ReadAllText(sni.KeyFile) + File.ReadAllText(sni.ChainFile));
        File.SetUnixFileMode(sniChain, (UnixFileMode)0b110_100_100);
        _port = FreePort.Tcp(PostfixServer.DefaultAddress);
        _postfix = PostfixServer.StartOn(PostfixServer.DefaultAddress, _port,
            ("smtpd_tls_security_level", "may"), ("smtpd_tls_chain_files", $"{server.KeyFile}, {server.ChainFile}"), ("smtpd_tls_loglevel", "1"),
            ("tls_server_sni_maps", $"inline:{{ real.sni.dane.test={sniChain} }}"));

        var eeHash = Convert.ToHexString(SHA256.HashData(server.Certificate.PublicKey.ExportSubjectPublicKeyInfo()));
        var taHash = Convert.ToHexString(SHA256.HashData(_ca.Certificate.RawData));
        var wrong = Convert.ToHexString(SHA256.HashData("not this certificate"u8));
        var tlsa = $"_{_port}._tcp";
        var signedZone = $"""
            $TTL 300
            @            SOA   ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 300
            @            NS    ns
            ns           A     127.0.0.1
            good         MX    10 mx.good
            mx.good      A     127.0.0.3
            {tlsa}.mx.good TLSA 3 1 1 {eeHash}
            ta           MX    10 mx.ta
            mx.ta        A     127.0.0.3
            {tlsa}.mx.ta TLSA  2 0 1 {taHash}
            bad          MX    10 mx.bad
            mx.bad       A     127.0.0.3
            {tlsa}.mx.bad TLSA 3 1 1 {wrong}
            fail         MX    10 mx.fail
            mx.fail      A     127.0.0.3
            _tcp.mx.fail NS    ns.garbage
            ns.garbage   A     127.0.0.1
            none         MX    10 mx.none
            mx.none      A     127.0.0.3
            alias        MX    10 mx.alias
            mx.alias     CNAME real.alias
            real.alias   A     127.0.0.3
            {tlsa}.real.alias TLSA 3 1 1 {eeHash}
            {tlsa}.mx.alias TLSA 3 1 1 {wrong}
            pkix         MX    10 mx.pkix
            mx.pkix      A     127.0.0.3
            {tlsa}.mx.pkix TLSA 1 1 1 {eeHash}
            sni          MX    10 mx.sni
            mx.sni       CNAME real.sni
            real.sni     A     127.0.0.3
            {tlsa}.real.sni TLSA 2 0 1 {taHash}

            """;
        var insecureZone = $"""
            $TTL 300
            @            SOA   ns.insecure.test. hostmaster.insecure.test. 1 3600 600 86400 300
            @            NS    ns.dane.test.
            loose        MX    10 mx.loose
            mx.loose     A     127.0.0.3
            {tlsa}.mx.loose TLSA 3 1 1 {wrong}

            """;
        _bind = Bind.Start(new Dictionary<string, string?> { ["dane.test"] = signedZone, ["insecure.test"] = insecureZone }, new HashSet<string> { "dane.test" });
        _garbage = new GarbageDnsServer();
        _unbound = Unbound.Start(
            new Dictionary<string, IPEndPoint>
            {
                ["dane.test"] = _bind.EndPoint,
                ["insecure.test"] = _bind.EndPoint,
                [$"_tcp.mx.fail.dane.test"] = new IPEndPoint(IPAddress.Loopback, _garbage.Port),
            },
            [_bind.KeySigningKey("dane.test")],
            ["insecure.test"]);
        _resolvConf = _unbound.WriteResolvConf();
    }

    /// <summary>NUnit disposes a fixture after its last test.</summary>
    public void Dispose()
    {
        _unbound?.Dispose();
        _garbage?.Dispose();
        _bind?.Dispose();
        _postfix?.Dispose();
        _ca?.Dispose();
    }

    private async Task<(string Report, string Transcript)> DeliverAsync(string domain, string sender, string message = "Subject: dane\n\nhello\n")
    {
        var transcript = new StringWriter();
        var report = await Harness.DeliverAsync(domain, sender, [$"rcpt@{domain}"], Encoding.UTF8.GetBytes(message),
            new() { SmtpPort = _port, ResolvConf = _resolvConf, Transcript = TextWriter.Synchronized(transcript) });
        return (report, transcript.ToString());
    }

    [TestCase("good.dane.test", "DANE-EE")]
    [TestCase("ta.dane.test", "DANE-TA")]
    public async Task A_certificate_matching_secure_tlsa_records_is_delivered_over_verified_tls(string domain, string usage)
    {
        var sender = $"{usage.ToLowerInvariant()}@dane.test";
        var (report, transcript) = await DeliverAsync(domain, sender);
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message.\nRemote host said: 250 2.0.0 Ok"), usage);
        Assert.That(report, Does.EndWith($"\nTLS: TLSv1.3, {usage} verified\n\\0"), "the K text says how the certificate was checked");
        Assert.That(transcript, Does.Contain($"tls policy for mx.{domain}: Dane (DANE: _{_port}._tcp.mx.{domain}: 1 secure TLSA record)"));
        Assert.That(transcript, Does.Match(@"tls: Tls1[23] \w+, certificate verified \(DANE"));
        Postfix.WaitForLog($"from=<{sender}>");
    }

    [Test]
    public async Task Tlsa_records_none_of_which_is_usable_require_tls_and_the_k_text_says_it_was_not_verified()
    {
        // PKIX-EE (usage 1) is not for SMTP (RFC 7672 3.1.3): TLS is still required (RFC 7672 2.2), but nothing was
        // checked, and the K text must not claim a DANE verification.
        var (report, transcript) = await DeliverAsync("pkix.dane.test", "pkix@dane.test");
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message.\nRemote host said: 250 2.0.0 Ok"), transcript);
        Assert.That(report, Does.EndWith("\nTLS: TLSv1.3, not verified\n\\0"), transcript);
        Assert.That(transcript, Does.Contain($"tls policy for mx.pkix.dane.test: Dane (DANE: _{_port}._tcp.mx.pkix.dane.test: 1 secure TLSA record)"));
        Postfix.WaitForLog("from=<pkix@dane.test>");
    }

    [Test]
    public async Task A_mismatching_tlsa_record_defers_and_never_falls_back_to_plain_text()
    {
        var (report, transcript) = await DeliverAsync("bad.dane.test", "mismatch@dane.test");
        Assert.That(report, Does.StartWith("ZConnected to 127.0.0.3 but its TLS certificate did not verify against DANE: "));
        Assert.That(report, Does.Contain("no TLSA record matches the server's certificate (1 usable record)). (#4.7.1)\n"));
        Assert.That(transcript, Does.Not.Contain("MAIL FROM"), "nothing after the failed handshake");
        Assert.That(transcript, Does.Not.Contain("retrying"), "no plain-text retry under DANE");
        Thread.Sleep(200);
        Assert.That(Postfix.Log, Does.Not.Contain("from=<mismatch@dane.test>"));
    }

    [Test]
    public async Task Tlsa_records_in_an_unsigned_zone_are_ignored()
    {
        // The same wrong TLSA record as above, but not DNSSEC-secure: an attacker could have put it there, so it
        // means nothing; opportunistic TLS delivers.
        var (report, transcript) = await DeliverAsync("loose.insecure.test", "insecure@dane.test");
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        Assert.That(transcript, Does.Contain("tls policy for mx.loose.insecure.test: Opportunistic"));
        Assert.That(transcript, Does.Not.Contain("TLSA"), "no TLSA lookup where the MX answer is not secure");
    }

    [Test]
    public async Task A_secure_domain_without_tlsa_records_is_opportunistic()
    {
        var (report, transcript) = await DeliverAsync("none.dane.test", "none@dane.test");
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        Assert.That(transcript, Does.Contain($"_{_port}._tcp.mx.none.dane.test: no TLSA records"));
    }

    [Test]
    public async Task A_failed_tlsa_lookup_makes_the_exchanger_unusable_a_deferral()
    {
        var (report, _) = await DeliverAsync("fail.dane.test", "fail@dane.test");
        Assert.That(report, Is.EqualTo(
            $"ZNo mail exchanger can be used under the TLS policy: DANE: _{_port}._tcp.mx.fail.dane.test TLSA lookup failed. (#4.7.5)\n\\0"));
        Assert.That(Postfix.Log, Does.Not.Contain("from=<fail@dane.test>"));
    }

    [Test]
    public async Task Tls_required_no_waives_dane_as_rfc_8689_asks()
    {
        var (report, transcript) = await DeliverAsync("bad.dane.test", "waived@dane.test", "TLS-Required: No\nSubject: dane\n\nhello\n");
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        Assert.That(transcript, Does.Contain("DANE waived by TLS-Required: No"));
        Assert.That(report, Does.EndWith("\nTLS: TLSv1.3, not verified\n\\0"));
        Postfix.WaitForLog("from=<waived@dane.test>");
    }

    [Test]
    public async Task A_secure_alias_has_its_tlsa_records_looked_for_at_its_target_first()
    {
        // RFC 7672 2.2.2: mx.alias is a CNAME for real.alias, all signed. The matching TLSA record is at the target;
        // the one at the alias's own name would not match: delivered only if the target's is used.
        var (report, transcript) = await DeliverAsync("alias.dane.test", "alias@dane.test");
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        Assert.That(transcript, Does.Contain($"tls policy for mx.alias.dane.test: Dane (DANE: _{_port}._tcp.real.alias.dane.test: 1 secure TLSA record)"));
        Postfix.WaitForLog("from=<alias@dane.test>");
    }

    [Test]
    public async Task A_secure_alias_whose_tlsa_records_are_at_its_target_gets_the_target_as_sni()
    {
        // RFC 7672 8.1: the SNI name is the TLSA base domain, here the alias's target real.sni (2.2.2), not mx.sni. The
        // server has a certificate for real.sni only behind that SNI name; its default one names neither, so DANE-TA's
        // name check (3.2.2) passes only if the right name was asked for.
        var (report, transcript) = await DeliverAsync("sni.dane.test", "sni@dane.test");
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."), transcript);
        Assert.That(transcript, Does.Contain($"tls policy for mx.sni.dane.test: Dane (DANE: _{_port}._tcp.real.sni.dane.test: 1 secure TLSA record)"));
        Postfix.WaitForLog("from=<sni@dane.test>");
        // Postfix logs a matched SNI name in the handshake summary ("... from unknown[127.0.0.1] to real.sni.dane.test").
        Postfix.WaitForLog("] to real.sni.dane.test: TLSv");
    }
}
