using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Tls;

/// <summary>
/// REQUIRETLS under DANE (RFC 8689 4.2.1 with RFC 7672): BIND serves a signed zone with two exchangers and their TLSA
/// records, Unbound validates it with the zone's key (the AD bit is real), and scripted STARTTLS servers present a
/// certificate of a CA made here. A TLSA record that does not match the first exchanger's certificate is a refusal
/// that exchanger gives and the second may not: the second, matching and offering REQUIRETLS, gets the message.
/// </summary>
[NonParallelizable]
public sealed class RequireTlsDaneTests : IDisposable
{
    private readonly TestCa _ca = new("REQUIRETLS DANE Test CA");
    private X509Certificate2? _certificate;
    private Bind? _bind;
    private Unbound? _unbound;
    private string _resolvConf = "";
    private int _port;

    [OneTimeSetUp]
    public void Start()
    {
        var issued = _ca.Issue("mx", "mx1.rt.dane.test", "mx2.rt.dane.test");
        _certificate = RequireTlsTests.ServerCertificate(issued);
        _port = RequireTlsTests.BothFree();
        var ee = Convert.ToHexString(SHA256.HashData(issued.Certificate.PublicKey.ExportSubjectPublicKeyInfo()));
        var wrong = Convert.ToHexString(SHA256.HashData("not this certificate"u8));
        var zone = $"""
            $TTL 300
            @            SOA   ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 300
            @            NS    ns
            ns           A     127.0.0.1
            rt           MX    10 mx1.rt
            rt           MX    20 mx2.rt
            mx1.rt       A     127.0.0.71
            mx2.rt       A     127.0.0.72
            _{_port}._tcp.mx1.rt TLSA 3 1 1 {wrong}
            _{_port}._tcp.mx2.rt TLSA 3 1 1 {ee}
            pk           MX    10 mx3.pk
            mx3.pk       A     127.0.0.73
            _{_port}._tcp.mx3.pk TLSA 1 1 1 {ee}

            """;
        _bind = Bind.Start(new Dictionary<string, string?> { ["dane.test"] = zone }, new HashSet<string> { "dane.test" });
        _unbound = Unbound.Start(new Dictionary<string, IPEndPoint> { ["dane.test"] = _bind.EndPoint }, [_bind.KeySigningKey("dane.test")], []);
        _resolvConf = _unbound.WriteResolvConf();
    }

    public void Dispose()
    {
        _unbound?.Dispose();
        _bind?.Dispose();
        _certificate?.Dispose();
        _ca.Dispose();
    }

    private async Task<(string Report, string Transcript)> DeliverAsync(string domain = "rt.dane.test")
    {
        var text = new StringWriter();
        var report = await Harness.DeliverAsync(domain, "sender@rt.test", [$"rcpt@{domain}"],
            Encoding.UTF8.GetBytes("Require-TLS-ESMTP: yes\nSubject: dane\n\nhello\n"),
            new() { Config = Harness.Config() with { RequireTls = true }, SmtpPort = _port, ResolvConf = _resolvConf, Transcript = TextWriter.Synchronized(text) });
        return (report, text.ToString());
    }

    [Test]
    public async Task A_tlsa_mismatch_at_the_first_exchanger_sends_the_message_to_the_second()
    {
        using var first = RequireTlsTests.Serve(RequireTlsTests.First, _port, new(_certificate));
        using var second = RequireTlsTests.Serve(RequireTlsTests.Second, _port, new(_certificate));
        var (report, transcript) = await DeliverAsync();
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.72 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: TLSv1.3, DANE-EE verified\n\\0"), transcript);
        Assert.That(transcript, Does.Contain($"tls policy for mx2.rt.dane.test: Dane (DANE: _{_port}._tcp.mx2.rt.dane.test: 1 secure TLSA record)"));
        WaitFor.Condition(() => first.Sessions.Count == 1, "the first exchanger's session");
        Assert.That(first.Sessions.Single().Received, Is.EqualTo("EHLO qremote.test\r\nSTARTTLS\r\n"), "refused in the handshake: nothing inside TLS");
        Assert.That(RequireTlsTests.Wire(second), Is.EqualTo(RequireTlsTests.Opening + "MAIL FROM:<sender@rt.test> REQUIRETLS\r\nRCPT TO:<rcpt@rt.dane.test>\r\nDATA\r\n"
            + "Require-TLS-ESMTP: yes\r\nSubject: dane\r\n\r\nhello\r\n.\r\nQUIT\r\n"));
    }

    [Test]
    public async Task A_tlsa_mismatch_and_then_an_exchanger_without_requiretls_is_a_bounce()
    {
        using var first = RequireTlsTests.Serve(RequireTlsTests.First, _port, new(_certificate));
        using var second = RequireTlsTests.Serve(RequireTlsTests.Second, _port, new(_certificate, RequireTls: false));
        var (report, transcript) = await DeliverAsync();
        // mx1: the TLSA mismatch; mx2: DANE verified, but no REQUIRETLS keyword. Both definite: D, mx2's text.
        Assert.That(report, Is.EqualTo("DConnected to 127.0.0.72 but it does not offer REQUIRETLS: REQUIRETLS support required (RFC 8689). (#5.7.30)\n\\0"), transcript);
        Assert.That(transcript, Does.Contain("tls: required by DANE: "));
        Assert.That(RequireTlsTests.Wire(second), Is.EqualTo(RequireTlsTests.Opening + "QUIT\r\n"));
    }

    [Test]
    public async Task Tlsa_records_none_of_which_is_usable_are_no_verified_policy_for_requiretls()
    {
        // Secure TLSA records, but only PKIX-EE (usage 1), which DANE for SMTP does not use (RFC 7672 3.1.3): TLS would
        // be required and verify nothing, so REQUIRETLS (RFC 8689 4.2.1) has no verified TLS here: not even a connection.
        using var third = RequireTlsTests.Serve(System.Net.IPAddress.Parse("127.0.0.73"), _port, new(_certificate));
        var (report, transcript) = await DeliverAsync("pk.dane.test");
        Assert.That(report, Is.EqualTo("DSorry, mx3.pk.dane.test has no verified TLS policy (DANE, MTA-STS enforce or control/tlshosts): "
            + "REQUIRETLS support required (RFC 8689). (#5.7.30)\n\\0"), transcript);
        Assert.That(third.Sessions, Is.Empty, "no connection to an exchanger REQUIRETLS cannot use");
    }
}
