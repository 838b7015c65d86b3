using System.Net;
using System.Text;
using QRemote.Qmail;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Tls;

/// <summary>
/// The control files of qmail's TLS and AUTH patches, against a real Postfix: <c>clientcert.pem</c> (Postfix
/// logs the client certificate it trusted), <c>tlsclientciphers</c> (Postfix logs the cipher), smtproutes
/// credentials (Dovecot's SASL with users made here; Postfix logs the authenticated user), and
/// <c>outgoingip</c> (Postfix logs the client address).
/// </summary>
[NonParallelizable]
public sealed class TlsControlTests : IDisposable
{
    private const string User = "alice@qremote.test";
    private const string Password = "s3cret-Pa55";
    private readonly TestCa _ca = new("Control Test CA");
    private Issued? _server;
    private DovecotAuth? _auth;

    [OneTimeSetUp]
    public void Start()
    {
        _server = _ca.Issue("server", "mx.qremote.test");
        _auth = DovecotAuth.Start(new Dictionary<string, string> { [User] = Password });
    }

    public void Dispose()
    {
        _auth?.Dispose();
        _ca.Dispose();
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

    private static async Task<(string Report, string Transcript)> Deliver(QmailConfig config, string host, int port)
    {
        var transcript = new StringWriter();
        var report = await Harness.DeliverAsync(host, "s@qremote.test", ["r@elsewhere.test"], Encoding.UTF8.GetBytes("Subject: control\n\nhello\n"),
            config, smtpPort: port, transcript: TextWriter.Synchronized(transcript));
        return (report, transcript.ToString());
    }

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
        var (report, transcript) = await Deliver(config, "elsewhere.test", 25);
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
        var (report, transcript) = await Deliver(Harness.Config($"elsewhere.test:[127.0.0.3]:{postfix.EndPoint.Port} {User} wrong-password"), "elsewhere.test", 25);
        Assert.That(report, Does.StartWith("ZConnected to 127.0.0.3 but authentication was rejected.\nRemote host said: 535 5.7.8 Error: authentication failed"));
        // MailKit tries PLAIN, then LOGIN, whose password goes on a line of its own: redacted too.
        Assert.That(transcript, Does.Contain("C: AUTH LOGIN"));
        Assert.That(new[] { "wrong-password", Convert.ToBase64String("wrong-password"u8), Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{User}\0wrong-password")) }
            .Where(transcript.Contains), Is.Empty);
    }

    [Test]
    public async Task Credentials_are_never_sent_without_tls()
    {
        using var postfix = Sasl(tls: false);
        var (report, transcript) = await Deliver(Harness.Config($"elsewhere.test:[127.0.0.3]:{postfix.EndPoint.Port} {User} {Password}"), "elsewhere.test", 25);
        Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.3 but TLS was not established, and AUTH credentials are never sent in plain text. (#4.7.0)\n\\0"));
        Assert.That(transcript, Does.Not.Contain("C: AUTH"));
        Assert.That(postfix.Log, Does.Not.Contain("sasl_"));
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
