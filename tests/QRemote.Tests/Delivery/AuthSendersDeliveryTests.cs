using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using QRemote.Qmail;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Delivery;

/// <summary>
/// Per-sender routes (control/authsenders), the SASL mechanism chosen, and implicit TLS on port 465, against real
/// Postfix smtpd instances with Dovecot's SASL: Postfix logs who connected, the SASL method and user it accepted, so
/// each test sees which relay got the mail and how. The relays are <c>[127.0.0.3]</c>, verified through
/// <c>control/tlshosts/[127.0.0.3].pem</c> (credentials go only to a verified relay, docs/tls.md). The implicit-TLS
/// tests need port 465 on 127.0.0.3: the fixture is not parallel.
/// </summary>
[NonParallelizable]
public sealed class AuthSendersDeliveryTests : IDisposable
{
    private const string User = "alice@qremote.test";
    private const string Password = "s3cret-Pa55";
    private readonly TestCa _ca = new("AuthSenders Test CA");
    private Issued? _server;
    private DovecotAuth? _plain;
    private DovecotAuth? _scram;
    private DovecotAuth? _login;
    private readonly List<TempQmailHome> _homes = [];

    [OneTimeSetUp]
    public void Start()
    {
        _server = _ca.Issue("server", "relay.qremote.test", "127.0.0.3");
        _plain = DovecotAuth.Start(new Dictionary<string, string> { [User] = Password });
        _scram = DovecotAuth.Start(new Dictionary<string, string> { [User] = Password }, "plain login scram-sha-1 scram-sha-256");
        _login = DovecotAuth.Start(new Dictionary<string, string> { [User] = Password }, "login");
    }

    public void Dispose()
    {
        _plain?.Dispose();
        _scram?.Dispose();
        _login?.Dispose();
        _ca.Dispose();
        foreach (var home in _homes)
        {
            home.Dispose();
        }
    }

    private (string, string)[] Tls() =>
        [("smtpd_tls_security_level", "may"), ("smtpd_tls_chain_files", $"{_server!.KeyFile}, {_server.ChainFile}"), ("smtpd_tls_loglevel", "1")];

    /// <summary>A relay that takes mail only from an authenticated client.</summary>
    private (string, string)[] Sasl(DovecotAuth auth) => [.. Tls(), .. auth.PostfixParameters, ("smtpd_relay_restrictions", "permit_sasl_authenticated, reject")];

    private string TrustingHome(params (string Name, string Content)[] more)
    {
        var home = TempQmailHome.Create(me: null);
        _homes.Add(home);
        home.WriteControl("tlshosts/[127.0.0.3].pem", File.ReadAllText(_ca.CertificateFile));
        foreach (var (name, content) in more)
        {
            home.WriteControl(name, content);
        }

        return home.Path;
    }

    private static QmailConfig Config(string smtproutes, params string[] authsenders) =>
        Harness.Config(smtproutes) with { AuthSenders = AuthSenders.Parse(authsenders), OutgoingIps = [Source] };

    /// <summary>Our connections come from here: Postfix's log tells them from the start-up probe's (from 127.0.0.1).</summary>
    private static readonly IPAddress Source = IPAddress.Parse("127.0.0.77");

    private static async Task<(string Report, string Transcript)> Deliver(QmailConfig config, string sender, string host = "elsewhere.test", string? home = null, int port = 25)
    {
        var transcript = new StringWriter();
        var report = await Harness.DeliverAsync(host, sender, ["r@elsewhere.test"], Encoding.UTF8.GetBytes("Subject: authsenders\n\nhello\n"),
            new() { Config = config, SmtpPort = port, Transcript = TextWriter.Synchronized(transcript), QmailHome = home });
        return (report, transcript.ToString());
    }

    /// <summary>The whole report of a message Postfix took: its queue id is Postfix's choice, the rest is exact, the TLS
    /// line too (verified through control/tlshosts unless <paramref name="tls"/> says otherwise).</summary>
    private static void AssertAccepted(string report, string transcript, string tls = "TLS: TLSv1.3, certificate verified") =>
        Assert.That(report, Does.Match(@"^r\\0K127\.0\.0\.3 accepted message\.\nRemote host said: 250 2\.0\.0 Ok: 31 bytes queued as [0-9A-F]+\n"
            + Regex.Escape(tls) + @"\n\\0$"), transcript);

    private static int Connections(PostfixServer postfix) => Regex.Count(postfix.Log, @"(?<!dis)connect from \S+\[127\.0\.0\.77\]");

    [Test]
    public async Task A_sender_route_wins_over_smtproutes_and_another_sender_keeps_smtproutes()
    {
        using var smtproutesRelay = PostfixServer.Start(Tls());
        using var senderRelay = PostfixServer.Start(Sasl(_plain!));
        var config = Config($"elsewhere.test:[127.0.0.3]:{smtproutesRelay.EndPoint.Port}", $"s@qremote.test:[127.0.0.3]:{senderRelay.EndPoint.Port}|{User}|{Password}");

        var (report, transcript) = await Deliver(config, "s@qremote.test", home: TrustingHome());
        AssertAccepted(report, transcript);
        senderRelay.WaitForLog($"sasl_method=PLAIN, sasl_username={User}");
        Assert.That(transcript, Does.Contain($"route: [127.0.0.3]:{senderRelay.EndPoint.Port} from control/authsenders, with credentials"));
        Assert.That(Connections(smtproutesRelay), Is.Zero, "the smtproutes relay never heard of it");

        // Another sender of the same domain has no line: smtproutes' relay, without AUTH.
        (report, transcript) = await Deliver(config, "t@qremote.test", home: TrustingHome());
        AssertAccepted(report, transcript);
        smtproutesRelay.WaitForLog("connect from unknown[127.0.0.77]");
        Assert.That(transcript, Does.Not.Contain("authsenders").And.Not.Contain("C: AUTH"));
        Assert.That(Regex.Count(senderRelay.Log, "sasl_username"), Is.EqualTo(1));
    }

    [Test]
    public async Task An_at_domain_line_routes_every_sender_of_the_domain_and_no_other()
    {
        using var smtproutesRelay = PostfixServer.Start(Tls());
        using var senderRelay = PostfixServer.Start(Sasl(_plain!));
        var config = Config($"elsewhere.test:[127.0.0.3]:{smtproutesRelay.EndPoint.Port}",
            $"@qremote.test:[127.0.0.3]:{senderRelay.EndPoint.Port}|{User}|{Password}", "exempt@qremote.test:");

        var (report, transcript) = await Deliver(config, "Anyone@QRemote.test", home: TrustingHome());
        AssertAccepted(report, transcript);
        senderRelay.WaitForLog($"sasl_username={User}");

        // The exempted address, a sender of another domain and the bounce sender: smtproutes.
        foreach (var sender in new[] { "exempt@qremote.test", "x@other.test", "" })
        {
            (report, transcript) = await Deliver(config, sender, home: TrustingHome());
            AssertAccepted(report, transcript);
        }

        WaitFor.Condition(() => Connections(smtproutesRelay) == 3, "three connections to the smtproutes relay");
        Assert.That(Regex.Count(senderRelay.Log, "sasl_username"), Is.EqualTo(1));
    }

    [Test]
    public async Task Without_a_match_a_literal_host_goes_where_it_says()
    {
        using var direct = PostfixServer.Start(Tls());
        using var senderRelay = PostfixServer.Start(Sasl(_plain!));
        var config = Config("", $"@qremote.test:[127.0.0.3]:{senderRelay.EndPoint.Port}|{User}|{Password}");
        var (report, transcript) = await Deliver(config, "x@other.test", host: "[127.0.0.3]", port: direct.EndPoint.Port);
        AssertAccepted(report, transcript, "TLS: TLSv1.3, not verified");
        direct.WaitForLog("connect from unknown[127.0.0.77]");
        Assert.That(Connections(senderRelay), Is.Zero);
    }

    [Test]
    public async Task Scram_sha_256_is_chosen_when_dovecot_offers_it_and_no_secret_reaches_the_transcript()
    {
        using var relay = PostfixServer.Start(Sasl(_scram!));
        var config = Config("", $"@qremote.test:[127.0.0.3]:{relay.EndPoint.Port}|{User}|{Password}");
        var (report, transcript) = await Deliver(config, "s@qremote.test", home: TrustingHome());
        AssertAccepted(report, transcript);
        relay.WaitForLog($"sasl_method=SCRAM-SHA-256, sasl_username={User}");
        Assert.That(transcript, Does.Contain("auth: SCRAM-SHA-256, the strongest of LOGIN PLAIN SCRAM-SHA-1 SCRAM-SHA-256"));
        Assert.That(transcript, Does.Contain("C: AUTH SCRAM-SHA-256 (authentication data redacted)\n"));
        Assert.That(Regex.Count(transcript, "C: AUTH"), Is.EqualTo(1));
        // SCRAM's messages start "n,,n=USER" (client-first) and "c=biws" (client-final, with the proof): base64
        // "biws" and "Yz1iaXdz". Neither, nor the password in any form, is in the transcript.
        var secrets = new[] { Password, Convert.ToBase64String(Encoding.UTF8.GetBytes(Password)), "biwsbj", "Yz1iaXdz" };
        Assert.That(secrets.Where(transcript.Contains), Is.Empty);
    }

    [Test]
    public async Task A_refused_scram_is_a_deferral_and_never_a_retry_with_plain()
    {
        using var relay = PostfixServer.Start(Sasl(_scram!));
        var config = Config("", $"@qremote.test:[127.0.0.3]:{relay.EndPoint.Port}|{User}|wrong-password");
        var (report, transcript) = await Deliver(config, "s@qremote.test", home: TrustingHome());
        Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.3 but authentication was rejected.\nRemote host said: 535 5.7.8 Error: authentication failed: (reason unavailable)\n\\0"), transcript);
        relay.WaitForLog("SASL SCRAM-SHA-256 authentication failed");
        Assert.That(relay.Log, Does.Not.Contain("SASL PLAIN").And.Not.Contain("SASL LOGIN"));
        Assert.That(Regex.Count(transcript, "C: AUTH"), Is.EqualTo(1));
    }

    [Test]
    public async Task A_relay_offering_only_login_gets_login_and_its_password_line_is_redacted()
    {
        using var relay = PostfixServer.Start(Sasl(_login!));
        foreach (var password in new[] { "wrong-password", Password })
        {
            var config = Config("", $"@qremote.test:[127.0.0.3]:{relay.EndPoint.Port}|{User}|{password}");
            var (report, transcript) = await Deliver(config, "s@qremote.test", home: TrustingHome());
            if (password == Password)
            {
                AssertAccepted(report, transcript);
            }
            else
            {
                Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.3 but authentication was rejected.\nRemote host said: 535 5.7.8 Error: authentication failed: (reason unavailable)\n\\0"), transcript);
            }

            // LOGIN sends the user and the password each on a line of its own, answering 334: both redacted.
            Assert.That(transcript, Does.Contain("C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: (authentication data redacted)\nS: 334 UGFzc3dvcmQ6\nC: (authentication data redacted)\n"));
            Assert.That(new[] { password, Convert.ToBase64String(Encoding.UTF8.GetBytes(password)), Convert.ToBase64String(Encoding.UTF8.GetBytes(User)) }
                .Where(transcript.Contains), Is.Empty);
        }

        relay.WaitForLog($"sasl_method=LOGIN, sasl_username={User}");
    }

    /// <summary>A relay whose AUTH lists PLAIN first and SCRAM-SHA-256 last, and refuses SCRAM; the wire, as the relay
    /// read it inside TLS, is EHLO, STARTTLS, EHLO, one AUTH SCRAM-SHA-256 with the client-first message, QUIT.</summary>
    [Test]
    public async Task The_servers_order_and_its_refusal_never_bring_plain_on_the_wire()
    {
        using var certificate = SelfSigned();
        using var relay = new ScriptedSmtpServer(IPAddress.Loopback, 0, async s =>
        {
            await s.SendAsync("220 relay ESMTP\r\n");
            string? line;
            while ((line = await s.ReadLineAsync()) is not null)
            {
                switch (line.Split(' ')[0].ToUpperInvariant())
                {
                    case "EHLO": await s.SendAsync("250-relay\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN SCRAM-SHA-256\r\n"); break;
                    case "STARTTLS": await s.SendAsync("220 go ahead\r\n"); await s.StartTlsAsync(certificate); break;
                    case "AUTH": await s.SendAsync("535 5.7.8 not you\r\n"); break;
                    case "QUIT": await s.SendAsync("221 bye\r\n"); return;
                    default: await s.SendAsync("250 ok\r\n"); break;
                }
            }
        });
        var config = Config("", $"@qremote.test:[127.0.0.1]:{relay.EndPoint.Port}|{User}|{Password}");
        var home = TrustingHome(("qremote-auth-unverified", "[127.0.0.1]\n"));
        var (report, transcript) = await Deliver(config, "s@qremote.test", home: home);
        Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.1 but authentication was rejected.\nRemote host said: 535 5.7.8 not you\n\\0"), transcript);
        WaitFor.Condition(() => relay.Sessions.Count == 1 && relay.Sessions[0].Received.EndsWith("QUIT\r\n", StringComparison.Ordinal), "the session's QUIT");
        var wire = Regex.Match(relay.Sessions[0].Received, "^EHLO qremote\\.test\r\nSTARTTLS\r\nEHLO qremote\\.test\r\nAUTH SCRAM-SHA-256 ([A-Za-z0-9+/=]+)\r\nQUIT\r\n$");
        Assert.That(wire.Success, Is.True, relay.Sessions[0].Received);
        Assert.That(Encoding.UTF8.GetString(Convert.FromBase64String(wire.Groups[1].Value)), Does.Match($"^n,,n={Regex.Escape(User)},r=[!-~]+$"));
    }

    [Test]
    public async Task An_implicit_tls_relay_on_port_465_gets_tls_from_the_first_byte_and_the_credentials_inside_it()
    {
        using var relay = PostfixServer.StartOn(PostfixServer.DefaultAddress, 465, [.. Sasl(_scram!), ("smtpd_tls_wrappermode", "yes")]);
        // Both files: smtproutes' relay on 465, and a sender's.
        foreach (var config in new[]
        {
            Config($"elsewhere.test:[127.0.0.3]:465 {User} {Password}"),
            Config("", $"s@qremote.test:[127.0.0.3];465|{User}|{Password}"),
        })
        {
            var (report, transcript) = await Deliver(config, "s@qremote.test", home: TrustingHome());
            AssertAccepted(report, transcript);
            Assert.That(transcript, Does.Not.Contain("STARTTLS"));
            Assert.That(transcript, Does.Match("tls: Tls1[23] \\S+, certificate verified"));
            Assert.That(transcript, Does.Contain("C: AUTH SCRAM-SHA-256 (authentication data redacted)"));
        }

        WaitFor.Condition(() => Regex.Count(relay.Log, $"sasl_method=SCRAM-SHA-256, sasl_username={Regex.Escape(User)}") == 2, "two authenticated sessions");
    }

    [Test]
    public async Task A_failed_implicit_tls_handshake_is_a_deferral_and_never_a_plain_retry()
    {
        // A plain smtpd on 465: the client's ClientHello meets a greeting.
        using var plain = PostfixServer.StartOn(PostfixServer.DefaultAddress, 465);
        var (report, transcript) = await Deliver(Config("elsewhere.test:[127.0.0.3]:465"), "s@qremote.test");
        Assert.That(report, Does.StartWith("ZConnected to 127.0.0.3 but the TLS handshake on its implicit-TLS port failed (").And.EndWith("). (#4.7.0)\n\\0"), transcript);
        Assert.That(transcript, Does.Not.Contain("retrying"));
        plain.WaitForLog("connect from unknown[127.0.0.77]");
        Thread.Sleep(200);
        Assert.That(Connections(plain), Is.EqualTo(1), "one connection: no plain retry\n" + plain.Log);

        // With credentials the policy is verified: the handshake failure is the certificate's report, still no AUTH.
        (report, transcript) = await Deliver(Config($"elsewhere.test:[127.0.0.3]:465 {User} {Password}"), "s@qremote.test", home: TrustingHome());
        Assert.That(report, Does.StartWith("ZConnected to 127.0.0.3 but its TLS certificate did not verify against control/tlshosts/[127.0.0.3].pem ("), transcript);
        Assert.That(transcript, Does.Not.Contain("C: AUTH"));
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        return X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pkcs12), null);
    }
}
