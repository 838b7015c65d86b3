using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using QRemote.Delivery;
using QRemote.Message;
using QRemote.Qmail;
using QRemote.Tests.Infrastructure;
using QRemote.Tests.Tls.MtaSts;

namespace QRemote.Tests.Tls;

/// <summary>
/// REQUIRETLS through qmail (RFC 8689 by way of Postfix 3.11's <c>Require-TLS-ESMTP: yes</c> header, docs/tls.md), and
/// refusals another exchanger might not give (no REQUIRETLS, no verified TLS, no SMTPUTF8): each exchanger is tried
/// before one is the answer. Real BIND serves two exchangers per domain, <c>openssl s_server</c> the MTA-STS policy;
/// the exchangers are scripted servers speaking STARTTLS with certificates of a CA made here (Postfix here is older
/// than 3.11 and offers no REQUIRETLS), so every byte the client sent inside TLS is checked.
/// </summary>
[NonParallelizable]
public sealed class RequireTlsTests : IDisposable
{
    internal static readonly IPAddress First = IPAddress.Parse("127.0.0.71");
    internal static readonly IPAddress Second = IPAddress.Parse("127.0.0.72");
    private static readonly IPAddress Dead = IPAddress.Parse("127.0.0.73");
    private static readonly IPAddress PolicyAddress = IPAddress.Parse("127.0.0.93");
    private const string Message = "Require-TLS-ESMTP: yes\nSubject: rt\n\nhello\n";

    private readonly TestCa _ca = new("REQUIRETLS Test CA");
    private X509Certificate2? _good;
    private X509Certificate2? _wrongName;
    private OpensslPolicyServer? _policies;
    private Bind? _bind;
    private string _cache = "";
    private string _resolvConf = "";

    [OneTimeSetUp]
    public void Start()
    {
        _good = ServerCertificate(_ca.Issue("mx", "mx1.sts.rt.test", "mx2.sts.rt.test", "mx1.plain.rt.test", "mx2.plain.rt.test"));
        _wrongName = ServerCertificate(_ca.Issue("other", "somebody.else.test"));
        var web = _ca.Issue("web", "mta-sts.sts.rt.test", "mta-sts.gone.rt.test");
        _policies = OpensslPolicyServer.Start(PolicyAddress, web.CertificateFile, web.KeyFile,
            Encoding.ASCII.GetBytes("version: STSv1\r\nmode: enforce\r\nmx: *.sts.rt.test\r\nmax_age: 86400\r\n"));
        // sts: two exchangers under MTA-STS enforce. gone: the first of its two is nobody (nothing listens there). plain: two
        // exchangers with no policy at all (a test gives the second one control/tlshosts).
        var zone = """
            $TTL 300
            @               SOA  ns.rt.test. hostmaster.rt.test. 1 3600 600 86400 300
            @               NS   ns
            ns              A    127.0.0.1
            sts             MX   10 mx1.sts
            sts             MX   20 mx2.sts
            mx1.sts         A    127.0.0.71
            mx2.sts         A    127.0.0.72
            dead.sts        A    127.0.0.73
            _mta-sts.sts    TXT  "v=STSv1; id=20261207"
            mta-sts.sts     A    127.0.0.93
            gone            MX   10 dead.sts
            gone            MX   20 mx2.sts
            _mta-sts.gone   TXT  "v=STSv1; id=20261207"
            mta-sts.gone    A    127.0.0.93
            plain           MX   10 mx1.plain
            plain           MX   20 mx2.plain
            mx1.plain       A    127.0.0.71
            mx2.plain       A    127.0.0.72

            """;
        _bind = Bind.Start(new Dictionary<string, string?> { ["rt.test"] = zone }, new HashSet<string>());
        _resolvConf = _bind.WriteResolvConf();
        _cache = Path.Combine(_ca.Directory, "sts-cache");
        Directory.CreateDirectory(_cache);
    }

    public void Dispose()
    {
        _policies?.Dispose();
        _bind?.Dispose();
        _good?.Dispose();
        _wrongName?.Dispose();
        _ca.Dispose();
    }

    /// <summary>Re-imported with its key, so SslStream on Linux can use it as a server certificate.</summary>
    internal static X509Certificate2 ServerCertificate(Issued issued)
    {
        using var pem = X509Certificate2.CreateFromPemFile(issued.CertificateFile, issued.KeyFile);
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>How one scripted exchanger behaves.</summary>
    /// <param name="Certificate">What it presents after STARTTLS; null: it offers no STARTTLS.</param>
    /// <param name="RequireTls">It offers REQUIRETLS (inside TLS, where RFC 8689 servers offer it).</param>
    /// <param name="SmtpUtf8">It offers SMTPUTF8.</param>
    internal sealed record Exchanger(X509Certificate2? Certificate, bool RequireTls = true, bool SmtpUtf8 = false);

    internal static ScriptedSmtpServer Serve(IPAddress address, int port, Exchanger how) => new(address, port, async s =>
    {
        await s.SendAsync("220 scripted ESMTP\r\n");
        var secure = false;
        string? line;
        while ((line = await s.ReadLineAsync()) is not null)
        {
            switch (line.Split(' ')[0].ToUpperInvariant())
            {
                case "EHLO":
                    var keywords = new List<string> { "8BITMIME" };
                    if (how.Certificate is not null && !secure)
                    {
                        keywords.Add("STARTTLS");
                    }

                    if (how.RequireTls && secure)
                    {
                        keywords.Add("REQUIRETLS");
                    }

                    if (how.SmtpUtf8)
                    {
                        keywords.Add("SMTPUTF8");
                    }

                    await s.SendAsync($"250-{address}\r\n" + string.Concat(keywords.SkipLast(1).Select(k => $"250-{k}\r\n")) + $"250 {keywords[^1]}\r\n");
                    break;
                case "STARTTLS":
                    await s.SendAsync("220 go ahead\r\n");
                    await s.StartTlsAsync(how.Certificate!);
                    secure = true;
                    break;
                case "DATA":
                    await s.SendAsync("354 go\r\n");
                    await s.ReadDataAsync();
                    await s.SendAsync("250 2.0.0 queued\r\n");
                    break;
                case "QUIT":
                    await s.SendAsync("221 bye\r\n");
                    return;
                default:
                    await s.SendAsync("250 ok\r\n");
                    break;
            }
        }
    });

    /// <summary>A port free on both scripted addresses (the delivery's SMTP port is one for every exchanger).</summary>
    internal static int BothFree()
    {
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var port = FreePort.Tcp(First);
            try
            {
                using var probe = new System.Net.Sockets.TcpListener(Second, port);
                probe.Start();
                return port;
            }
            catch (System.Net.Sockets.SocketException)
            {
            }
        }

        throw new InvalidOperationException("no port free on both addresses");
    }

    private async Task<(string Report, string Transcript)> DeliverAsync(string domain, int port, string message = Message, bool requireTls = true,
        string? home = null, string recipient = "rcpt")
    {
        var text = new StringWriter();
        var transcript = TextWriter.Synchronized(text);
        var config = Harness.Config() with { MtaStsCacheDirectory = _cache, RequireTls = requireTls };
        var roots = new Lazy<X509Certificate2Collection>(() => [_ca.Certificate]);
        var report = await Harness.DeliverAsync(domain, "sender@rt.test", [$"{recipient}@{domain}"], Encoding.UTF8.GetBytes(message), new()
        {
            Config = config, SmtpPort = port, ResolvConf = _resolvConf, Transcript = transcript, QmailHome = home,
            MtaSts = MtaStsRequirement.For(config, roots, TimeProvider.System, transcript, _policies!.Port),
        });
        return (report, text.ToString());
    }

    /// <summary>What the client sent in the server's one session, once the session has ended (QUIT is not waited for).</summary>
    internal static string Wire(ScriptedSmtpServer server)
    {
        WaitFor.Condition(() => server.Sessions.Count == 1 && server.Sessions[0].Received.EndsWith("QUIT\r\n", StringComparison.Ordinal), "the session's QUIT");
        return server.Sessions.Single().Received;
    }

    internal const string Opening = "EHLO qremote.test\r\nSTARTTLS\r\nEHLO qremote.test\r\n";

    private const string Delivered = Opening + "MAIL FROM:<sender@rt.test> REQUIRETLS\r\nRCPT TO:<rcpt@sts.rt.test>\r\nDATA\r\n"
        + "Require-TLS-ESMTP: yes\r\nSubject: rt\r\n\r\nhello\r\n.\r\nQUIT\r\n";

    [Test]
    public async Task An_exchanger_without_requiretls_is_passed_over_for_the_next_that_offers_it()
    {
        var port = BothFree();
        using var first = Serve(First, port, new(_good, RequireTls: false));
        using var second = Serve(Second, port, new(_good));
        var (report, transcript) = await DeliverAsync("sts.rt.test", port);
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.72 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: TLSv1.3, MTA-STS verified\n\\0"), transcript);
        Assert.That(Wire(first), Is.EqualTo(Opening + "QUIT\r\n"), "verified TLS, no REQUIRETLS keyword: nothing of the message");
        Assert.That(Wire(second), Is.EqualTo(Delivered), "REQUIRETLS on MAIL, the header left as it came");
        Assert.That(transcript, Does.Contain("requiretls: Require-TLS-ESMTP: yes"));
    }

    [Test]
    public async Task An_exchanger_whose_certificate_does_not_verify_is_passed_over_for_the_next()
    {
        var port = BothFree();
        using var first = Serve(First, port, new(_wrongName));
        using var second = Serve(Second, port, new(_good));
        var (report, transcript) = await DeliverAsync("sts.rt.test", port);
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.72 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: TLSv1.3, MTA-STS verified\n\\0"), transcript);
        WaitFor.Condition(() => first.Sessions.Count == 1, "the first exchanger's session");
        Assert.That(first.Sessions.Single().Received, Is.EqualTo("EHLO qremote.test\r\nSTARTTLS\r\n"), "the handshake refused: nothing inside TLS");
        Assert.That(Wire(second), Is.EqualTo(Delivered));
    }

    [Test]
    public async Task When_every_exchanger_definitely_refuses_the_message_bounces_with_rfc_8689s_code()
    {
        var port = BothFree();
        using var first = Serve(First, port, new(_wrongName));
        using var second = Serve(Second, port, new(_good, RequireTls: false));
        var (report, transcript) = await DeliverAsync("sts.rt.test", port);
        Assert.That(report, Is.EqualTo("DConnected to 127.0.0.72 but it does not offer REQUIRETLS: REQUIRETLS support required (RFC 8689). (#5.7.30)\n\\0"), transcript);
        Assert.That(Wire(second), Is.EqualTo(Opening + "QUIT\r\n"));
        Assert.That(transcript, Does.Contain("tls: required by MTA-STS enforce for sts.rt.test, id 20261207, failed: RemoteCertificateNameMismatch"));

        // The same exchangers the other way round: the last word is the certificate's, a D too.
        using var third = Serve(First, port = BothFree(), new(_good, RequireTls: false));
        using var fourth = Serve(Second, port, new(_wrongName));
        (report, transcript) = await DeliverAsync("sts.rt.test", port);
        Assert.That(report, Is.EqualTo("DConnected to 127.0.0.72 but its TLS did not verify against MTA-STS enforce for sts.rt.test, id 20261207 "
            + "(RemoteCertificateNameMismatch): REQUIRETLS support required (RFC 8689). (#5.7.30)\n\\0"), transcript);
    }

    [Test]
    public async Task An_exchanger_out_of_reach_makes_it_a_deferral_not_a_bounce()
    {
        // dead.sts.rt.test (127.0.0.73) refuses the connection; mx2 offers no REQUIRETLS. Not every exchanger said no.
        var port = BothFree();
        using var second = Serve(Second, port, new(_good, RequireTls: false));
        var (report, transcript) = await DeliverAsync("gone.rt.test", port);
        Assert.That(report, Is.EqualTo("ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\\0"), transcript);
        Assert.That(transcript, Does.Contain($"connect {Dead}:{port}:"));
        Assert.That(Wire(second), Is.EqualTo(Opening + "QUIT\r\n"));
    }

    [Test]
    public async Task Without_a_verified_policy_an_exchanger_is_not_even_connected_to()
    {
        var port = BothFree();
        using var first = Serve(First, port, new(_good));
        using var second = Serve(Second, port, new(_good));
        var (report, transcript) = await DeliverAsync("plain.rt.test", port);
        Assert.That(report, Is.EqualTo(
            "DSorry, mx2.plain.rt.test has no verified TLS policy (DANE, MTA-STS enforce or control/tlshosts): REQUIRETLS support required (RFC 8689). (#5.7.30)\n\\0"),
            transcript);
        Assert.That(first.Sessions.Count + second.Sessions.Count, Is.Zero, "opportunistic TLS is never enough: no connection at all");

        // control/tlshosts for the second exchanger is the operator's verified policy: it qualifies.
        using var home = TempQmailHome.Create();
        home.WriteControl("tlshosts/mx2.plain.rt.test.pem", File.ReadAllText(_ca.CertificateFile));
        (report, transcript) = await DeliverAsync("plain.rt.test", port, home: home.Path);
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.72 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: TLSv1.3, certificate verified\n\\0"), transcript);
        Assert.That(first.Sessions, Is.Empty);
        Assert.That(Wire(second), Is.EqualTo(Delivered.Replace("rcpt@sts.rt.test", "rcpt@plain.rt.test", StringComparison.Ordinal)));
    }

    [Test]
    public async Task Tls_required_no_does_not_waive_requiretls()
    {
        // RFC 8689 4: with REQUIRETLS the TLS-Required header field is ignored. Alone it would waive MTA-STS and the
        // first exchanger would take the message over unverified TLS; with REQUIRETLS its certificate is refused.
        var port = BothFree();
        using var first = Serve(First, port, new(_wrongName));
        using var second = Serve(Second, port, new(_good));
        var (report, transcript) = await DeliverAsync("sts.rt.test", port, "TLS-Required: No\n" + Message);
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.72 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: TLSv1.3, MTA-STS verified\n\\0"), transcript);
        Assert.That(transcript, Does.Not.Contain("waived"));
        Assert.That(Wire(second), Does.Contain("MAIL FROM:<sender@rt.test> REQUIRETLS\r\n").And.Contain("\r\nTLS-Required: No\r\nRequire-TLS-ESMTP: yes\r\n"));
    }

    [Test]
    public async Task Off_by_default_the_header_changes_nothing()
    {
        var port = BothFree();
        using var first = Serve(First, port, new(_good, RequireTls: false));
        using var second = Serve(Second, port, new(_good));
        var (report, transcript) = await DeliverAsync("sts.rt.test", port, requireTls: false);
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.71 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: TLSv1.3, MTA-STS verified\n\\0"), transcript);
        Assert.That(Wire(first), Is.EqualTo(Opening + "MAIL FROM:<sender@rt.test>\r\nRCPT TO:<rcpt@sts.rt.test>\r\nDATA\r\n"
            + "Require-TLS-ESMTP: yes\r\nSubject: rt\r\n\r\nhello\r\n.\r\nQUIT\r\n"));
        Assert.That(second.Sessions, Is.Empty);
        Assert.That(transcript, Does.Not.Contain("requiretls:"));
    }

    [Test]
    public async Task A_recipient_needing_smtputf8_goes_to_the_exchanger_that_offers_it()
    {
        // No REQUIRETLS here: the plain domain, opportunistic TLS. The first exchanger lacks SMTPUTF8, the second has it.
        var port = BothFree();
        using var first = Serve(First, port, new(_good));
        using var second = Serve(Second, port, new(_good, SmtpUtf8: true));
        var (report, transcript) = await DeliverAsync("plain.rt.test", port, "Subject: utf8\n\nhello\n", requireTls: false, recipient: "jürgen");
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.72 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: TLSv1.3, not verified\n\\0"), transcript);
        Assert.That(Wire(first), Is.EqualTo(Opening + "QUIT\r\n"), "nothing of the envelope where it cannot be said");
        Assert.That(Wire(second), Is.EqualTo(Latin1(Opening + "MAIL FROM:<sender@rt.test> SMTPUTF8\r\nRCPT TO:<jürgen@plain.rt.test>\r\nDATA\r\n"
            + "Subject: utf8\r\n\r\nhello\r\n.\r\nQUIT\r\n")));
    }

    [Test]
    public async Task When_no_exchanger_offers_smtputf8_the_recipient_bounces_after_both_were_tried()
    {
        var port = BothFree();
        using var first = Serve(First, port, new(_good));
        using var second = Serve(Second, port, new(_good));
        var (report, transcript) = await DeliverAsync("plain.rt.test", port, "Subject: utf8\n\nhello\n", requireTls: false, recipient: "jürgen");
        Assert.That(report, Is.EqualTo("h127.0.0.72 does not offer SMTPUTF8, which this address needs. (#5.6.7)\n\\0DGiving up on 127.0.0.72.\n\\0"), transcript);
        Assert.That(Wire(first), Is.EqualTo(Opening + "QUIT\r\n"));
        Assert.That(Wire(second), Is.EqualTo(Opening + "QUIT\r\n"));
    }

    [Test]
    public async Task Two_different_refusals_are_a_deferral()
    {
        // The first exchanger has REQUIRETLS but not SMTPUTF8, the second SMTPUTF8 but not REQUIRETLS: both said no, for
        // different reasons, so neither is certain to be the answer next time.
        var port = BothFree();
        using var first = Serve(First, port, new(_good));
        using var second = Serve(Second, port, new(_good, RequireTls: false, SmtpUtf8: true));
        var (report, transcript) = await DeliverAsync("sts.rt.test", port, recipient: "jürgen");
        Assert.That(report, Is.EqualTo(
            "ZSorry, every mail exchanger refused this message before it was sent, not all for the same reason (SMTPUTF8, REQUIRETLS). (#4.4.0)\n\\0"), transcript);
        Assert.That(Wire(first), Is.EqualTo(Opening + "QUIT\r\n"));
        Assert.That(Wire(second), Is.EqualTo(Opening + "QUIT\r\n"));
    }

    private static string Latin1(string text) => Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(text));

    [TestCase("Require-TLS-ESMTP: yes\n\nbody\n", true)]
    [TestCase("require-tls-esmtp:YES\r\n\r\nbody\r\n", true)]
    [TestCase("Subject: x\nRequire-TLS-ESMTP:\n  yes\n\nbody\n", true)]
    [TestCase("Require-TLS-ESMTP: no\n\nbody\n", false)]
    [TestCase("Require-TLS-ESMTP: yes please\n\nbody\n", false)]
    [TestCase("Require-TLS-ESMTPX: yes\n\nbody\n", false)]
    [TestCase("Subject: x\n\nRequire-TLS-ESMTP: yes\n", false)]
    [TestCase("Require-TLS-ESMTP: yes", false)]
    public void The_header_is_read_as_postfix_writes_it_and_nothing_else(string message, bool expected)
    {
        // Only yes, in the header, on a complete line; folded lines unfolded. The body means nothing; nor does a value
        // that is not Postfix's.
        Assert.That(HeaderScan.RequireTlsEsmtp(Encoding.ASCII.GetBytes(message)), Is.EqualTo(expected));
    }

    [TestCase("1\n", true)]
    [TestCase("1", true)]
    [TestCase("0\n", false)]
    [TestCase("yes\n", false)]
    [TestCase("10\n", false)]
    [TestCase("\n", false)]
    [TestCase(null, false)]
    public void Control_qremote_requiretls_turns_it_on_only_with_1(string? contents, bool expected)
    {
        using var home = TempQmailHome.Create();
        if (contents is not null)
        {
            home.WriteControl("qremote-requiretls", contents);
        }

        var config = QmailConfig.Load(new ControlFiles(home.Control()));
        Assert.That(config.RequireTls, Is.EqualTo(expected));
        Assert.That(config.Settings.Single(s => s.Name == "qremote-requiretls").Value, Is.EqualTo(expected ? "1" : "0"));
        var facts = new MessageFacts(1, 1, true, false, RequireTlsEsmtp: true);
        Assert.That(config.RequiresTls(facts), Is.EqualTo(expected));
        Assert.That(config.RequiresTls(facts with { RequireTlsEsmtp = false }), Is.False);
    }
}
