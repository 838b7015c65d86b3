using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using QRemote.Qmail;
using QRemote.Tests.Infrastructure;
using QRemote.Tls;

namespace QRemote.Tests.Tls;

/// <summary>
/// The control files of qmail's TLS and AUTH patches, against a real Postfix: <c>clientcert.pem</c> (Postfix
/// logs the client certificate it trusted), <c>tlsclientciphers</c> (Postfix logs the cipher), smtproutes
/// credentials (Dovecot's SASL with users made here; Postfix logs the authenticated user), and
/// <c>outgoingip</c> (Postfix logs the client address). Credentials go only to a verified relay: the relay here is
/// <c>[127.0.0.3]</c>, whose certificate (from this CA, naming 127.0.0.3) is verified through
/// <c>control/tlshosts/[127.0.0.3].pem</c> or, for the published binary, <c>SSL_CERT_FILE</c>.
/// </summary>
[NonParallelizable]
public sealed class TlsControlTests : IDisposable
{
    private const string User = "alice@qremote.test";
    private const string Password = "s3cret-Pa55";
    private readonly TestCa _ca = new("Control Test CA");
    private Issued? _server;
    private DovecotAuth? _auth;
    private readonly List<TempQmailHome> _homes = [];

    [OneTimeSetUp]
    public void Start()
    {
        _server = _ca.Issue("server", "mx.qremote.test", "127.0.0.3");
        _auth = DovecotAuth.Start(new Dictionary<string, string> { [User] = Password });
    }

    public void Dispose()
    {
        _auth?.Dispose();
        _ca.Dispose();
        foreach (var home in _homes)
        {
            home.Dispose();
        }
    }

    private (string, string)[] Tls(params (string, string)[] more) =>
    [
        ("smtpd_tls_security_level", "may"), ("smtpd_tls_chain_files", $"{_server!.KeyFile}, {_server.ChainFile}"), ("smtpd_tls_loglevel", "1"), .. more,
    ];

    private PostfixServer Sasl(bool tls = true) => PostfixServer.Start(
    [
        .. tls ? Tls() : [],
        .. _auth!.PostfixParameters,
        ("smtpd_relay_restrictions", "permit_sasl_authenticated, reject"),
    ]);

    private static async Task<(string Report, string Transcript)> Deliver(QmailConfig config, string host, int port, string? home = null)
    {
        var transcript = new StringWriter();
        var report = await Harness.DeliverAsync(host, "s@qremote.test", ["r@elsewhere.test"], Encoding.UTF8.GetBytes("Subject: control\n\nhello\n"),
            new() { Config = config, SmtpPort = port, Transcript = TextWriter.Synchronized(transcript), QmailHome = home });
        return (report, transcript.ToString());
    }

    /// <summary>A qmail home whose control directory has <paramref name="files"/> (relative name, content).</summary>
    private string Home(params (string Name, string Content)[] files)
    {
        // Kept until the fixture goes, with the other homes.
        var home = TempQmailHome.Create(me: null);
        _homes.Add(home);
        foreach (var (name, content) in files)
        {
            home.WriteControl(name, content);
        }

        return home.Path;
    }

    /// <summary>The relay verified against the test CA, as an operator does with qmail's TLS patch.</summary>
    private string TrustingHome() => Home(("tlshosts/[127.0.0.3].pem", File.ReadAllText(_ca.CertificateFile)));

    [Test]
    public async Task Clientcert_pem_is_presented_and_postfix_trusts_it()
    {
        var client = _ca.Issue("client", "client.qremote.test");
        using var postfix = PostfixServer.Start(Tls(("smtpd_tls_ask_ccert", "yes"), ("smtpd_tls_CAfile", _ca.CertificateFile)));
        var (report, _) = await Deliver(Harness.Config() with { ClientCertificatePath = client.CertificateAndKeyFile }, "[127.0.0.3]", postfix.EndPoint.Port);
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        // "Trusted": Postfix verified a client certificate against the CA given (smtpd_tls_CAfile).
        postfix.WaitForLog("Trusted TLS connection established from");

        // Without the file, the same server sees an anonymous client: the assertion above can fail.
        var (plain, _) = await Deliver(Harness.Config(), "[127.0.0.3]", postfix.EndPoint.Port);
        Assert.That(plain, Does.StartWith("r\\0K"));
        postfix.WaitForLog("Anonymous TLS connection established from");
    }

    [Test]
    public async Task Tlsclientciphers_is_an_openssl_cipher_list_and_the_server_sees_its_choice()
    {
        using var postfix = PostfixServer.Start(Tls(("smtpd_tls_protocols", ">=TLSv1.2, <=TLSv1.2")));
        var (report, transcript) = await Deliver(Harness.Config() with { TlsClientCiphers = "ECDHE-RSA-AES128-GCM-SHA256" }, "[127.0.0.3]", postfix.EndPoint.Port);
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        postfix.WaitForLog("TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256");
        Assert.That(transcript, Does.Contain("tls: Tls12 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));

        var (other, _) = await Deliver(Harness.Config() with { TlsClientCiphers = "ECDHE-RSA-CHACHA20-POLY1305" }, "[127.0.0.3]", postfix.EndPoint.Port);
        Assert.That(other, Does.StartWith("r\\0K"));
        postfix.WaitForLog("TLSv1.2 with cipher ECDHE-RSA-CHACHA20-POLY1305");
    }

    [Test]
    public async Task A_cipher_list_openssl_refuses_defers_as_an_unreadable_control_file()
    {
        using var postfix = PostfixServer.Start(Tls());
        var (report, transcript) = await Deliver(Harness.Config() with { TlsClientCiphers = "NO-SUCH-CIPHER" }, "[127.0.0.3]", postfix.EndPoint.Port);
        Assert.That(report, Is.EqualTo("ZUnable to read control files. (#4.3.0)\n\\0"));
        Assert.That(transcript, Does.Contain("OpenSSL selects no cipher for \"NO-SUCH-CIPHER\""));
    }

    [Test]
    public async Task Smtproutes_credentials_authenticate_inside_tls_and_never_reach_the_transcript()
    {
        using var postfix = Sasl();
        var config = Harness.Config($"elsewhere.test:[127.0.0.3]:{postfix.EndPoint.Port} {User} {Password}");
        var (report, transcript) = await Deliver(config, "elsewhere.test", 25, TrustingHome());
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."), postfix.Log);
        postfix.WaitForLog($"sasl_username={User}");
        Assert.That(transcript, Does.Contain("auth: authenticated as " + User));
        Assert.That(transcript, Does.Contain("C: AUTH PLAIN (authentication data redacted)"));
        var secrets = new[] { Password, Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{User}\0{Password}")), Convert.ToBase64String(Encoding.UTF8.GetBytes(Password)) };
        Assert.That(secrets.Where(transcript.Contains), Is.Empty, "no password, plain or in base64, in the transcript");
    }

    [Test]
    public async Task Without_credentials_the_same_relay_refuses_so_authentication_is_what_delivered()
    {
        using var postfix = Sasl();
        var (report, _) = await Deliver(Harness.Config($"elsewhere.test:[127.0.0.3]:{postfix.EndPoint.Port}"), "elsewhere.test", 25);
        Assert.That(report, Does.StartWith("h127.0.0.3 does not like recipient.\nRemote host said: 554 5.7.1"));
    }

    [Test]
    public async Task A_wrong_password_is_a_deferral_with_the_servers_answer()
    {
        using var postfix = Sasl();
        var (report, transcript) = await Deliver(Harness.Config($"elsewhere.test:[127.0.0.3]:{postfix.EndPoint.Port} {User} wrong-password"), "elsewhere.test", 25, TrustingHome());
        Assert.That(report, Does.StartWith("ZConnected to 127.0.0.3 but authentication was rejected.\nRemote host said: 535 5.7.8 Error: authentication failed"));
        // One mechanism, the strongest both sides have (PLAIN here), tried once: never LOGIN after it (SaslRanking).
        Assert.That(transcript, Does.Contain("C: AUTH PLAIN (authentication data redacted)"));
        Assert.That(transcript, Does.Not.Contain("C: AUTH LOGIN"));
        Assert.That(new[] { "wrong-password", Convert.ToBase64String("wrong-password"u8), Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{User}\0wrong-password")) }
            .Where(transcript.Contains), Is.Empty);
    }

    [Test]
    public async Task Credentials_are_never_sent_without_tls()
    {
        using var postfix = Sasl(tls: false);
        var config = Harness.Config($"elsewhere.test:[127.0.0.3]:{postfix.EndPoint.Port} {User} {Password}");
        // Required verified TLS: no STARTTLS is a deferral before anything else is said.
        var (report, transcript) = await Deliver(config, "elsewhere.test", 25);
        Assert.That(report, Is.EqualTo(
            $"ZConnected to 127.0.0.3 but it does not offer STARTTLS, which the system trust roots in {SystemTrust.BundlePath} (smtproutes credentials) requires. (#4.7.1)\n\\0"));
        Assert.That(transcript, Does.Not.Contain("C: AUTH"));
        // With the opt-out (opportunistic TLS): still never in plain text.
        (report, transcript) = await Deliver(config, "elsewhere.test", 25, Home(("qremote-auth-unverified", "[127.0.0.3]\n")));
        Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.3 but TLS was not established, and AUTH credentials are never sent in plain text. (#4.7.0)\n\\0"));
        Assert.That(transcript, Does.Not.Contain("C: AUTH"));
        Assert.That(postfix.Log, Does.Not.Contain("sasl_"));
    }

    /// <summary>A man in the middle for the relay: STARTTLS with a self-signed certificate, then AUTH offered and
    /// accepted, and the whole transaction; what the client sent inside TLS is in the session's Received.</summary>
    private static ScriptedSmtpServer ManInTheMiddle(X509Certificate2 certificate) => new(IPAddress.Loopback, 0, async s =>
    {
        await s.SendAsync("220 relay ESMTP\r\n");
        string? line;
        while ((line = await s.ReadLineAsync()) is not null)
        {
            var verb = line.Split(' ')[0].ToUpperInvariant();
            switch (verb)
            {
                case "EHLO": await s.SendAsync("250-relay\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n"); break;
                case "STARTTLS": await s.SendAsync("220 go ahead\r\n"); await s.StartTlsAsync(certificate); break;
                case "AUTH": await s.SendAsync("235 2.7.0 thanks for the password\r\n"); break;
                case "DATA": await s.SendAsync("354 go\r\n"); await s.ReadDataAsync(); await s.SendAsync("250 2.0.0 queued\r\n"); break;
                case "QUIT": await s.SendAsync("221 bye\r\n"); return;
                default: await s.SendAsync("250 ok\r\n"); break;
            }
        }
    });

    private static X509Certificate2 SelfSigned(string name)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        // Re-imported with its key, so SslStream on Linux can use it as a server certificate.
        return X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pkcs12), null);
    }

    [Test]
    public async Task Smtproutes_credentials_never_reach_a_relay_whose_certificate_does_not_verify()
    {
        using var mitm = ManInTheMiddle(SelfSigned("127.0.0.1"));
        var config = Harness.Config($"elsewhere.test:[127.0.0.1]:{mitm.EndPoint.Port} {User} {Password}");
        var (report, transcript) = await Deliver(config, "elsewhere.test", 25);
        Assert.That(report, Does.StartWith($"ZConnected to 127.0.0.1 but its TLS certificate did not verify against the system trust roots in {SystemTrust.BundlePath} (smtproutes credentials) (")
            .And.EndWith("). (#4.7.1)\n\\0"), transcript);
        WaitFor.Condition(() => mitm.Sessions.Count == 1 && mitm.Sessions[0].Received.Length > 0, "the session");
        // The handshake is refused: nothing was said inside TLS, so no AUTH line and no password, in any form.
        Assert.That(mitm.Sessions.Single().Received, Is.EqualTo("EHLO qremote.test\r\nSTARTTLS\r\n"));
        Assert.That(transcript, Does.Not.Contain("C: AUTH").And.Not.Contain(Password));
    }

    [Test]
    public async Task Control_qremote_auth_unverified_lets_a_listed_relay_get_credentials_over_unverified_tls()
    {
        using var mitm = ManInTheMiddle(SelfSigned("127.0.0.1"));
        var config = Harness.Config($"elsewhere.test:[127.0.0.1]:{mitm.EndPoint.Port} {User} {Password}");
        var (report, _) = await Deliver(config, "elsewhere.test", 25, Home(("qremote-auth-unverified", "# relays on our own wire\nother.example\n[127.0.0.1]\n")));
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: TLSv1.3, not verified\n\\0"));
        Assert.That(mitm.Sessions.Single().Received, Does.Contain("\r\nAUTH PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{User}\0{Password}")) + "\r\n"));

        // Listing another relay only changes nothing for this one.
        using var second = ManInTheMiddle(SelfSigned("127.0.0.1"));
        config = Harness.Config($"elsewhere.test:[127.0.0.1]:{second.EndPoint.Port} {User} {Password}");
        (report, _) = await Deliver(config, "elsewhere.test", 25, Home(("qremote-auth-unverified", "other.example\n")));
        Assert.That(report, Does.StartWith("ZConnected to 127.0.0.1 but its TLS certificate did not verify"));
        Assert.That(second.Sessions.Single().Received, Does.Not.Contain("AUTH"));
    }

    /// <summary>The published binary, as qmail runs it but with <c>SSL_CERT_FILE</c> set: the system trust roots are what
    /// verifies the relay when control/tlshosts has no file for it.</summary>
    private static (string Output, string Errors) RunBinary(string home, string? sslCertFile)
    {
        var run = ExternalProcess.RunToEnd(PublishedBinary.Path, [$"--qmail-home={home}", "elsewhere.test", "s@qremote.test", "r@elsewhere.test"],
            new()
            {
                Input = Encoding.UTF8.GetBytes("Subject: binary auth\n\nhello\n"),
                Environment = new Dictionary<string, string?> { ["SSL_CERT_FILE"] = sslCertFile }, // null: not set at all
                Timeout = TimeSpan.FromSeconds(30),
            });
        return (run.Shown, run.Errors);
    }

    [Test]
    public void With_ssl_cert_file_naming_the_relays_ca_the_published_binary_authenticates()
    {
        using var postfix = Sasl();
        var home = Home(("me", "qremote.test\n"), ("smtproutes", $"elsewhere.test:[127.0.0.3]:{postfix.EndPoint.Port} {User} {Password}\n"));
        var (output, errors) = RunBinary(home, _ca.CertificateFile);
        Assert.That(output, Does.StartWith("r\\0K127.0.0.3 accepted message."), errors);
        postfix.WaitForLog($"sasl_username={User}");

        // The guard: the usual system bundle does not know this CA, so the same relay gets nothing.
        (output, _) = RunBinary(home, SystemTrust.DefaultBundle);
        Assert.That(output, Does.StartWith($"ZConnected to 127.0.0.3 but its TLS certificate did not verify against the system trust roots in {SystemTrust.DefaultBundle}"));
        Assert.That(postfix.Log.Split('\n').Count(l => l.Contains("sasl_username", StringComparison.Ordinal)), Is.EqualTo(1));
    }

    [Test]
    public async Task Outgoingip_is_the_source_address_postfix_sees()
    {
        using var postfix = PostfixServer.Start();
        var config = Harness.Config() with { OutgoingIps = [IPAddress.Parse("127.0.0.77")] };
        var (report, transcript) = await Deliver(config, "[127.0.0.3]", postfix.EndPoint.Port);
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        postfix.WaitForLog("connect from unknown[127.0.0.77]");
        Assert.That(transcript, Does.Contain("from 127.0.0.77:"));
    }
}
