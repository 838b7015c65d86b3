using System.Net;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Tls;

/// <summary>Opportunistic STARTTLS (RFC 7435) against a real Postfix, and the failures a real server won't stage.</summary>
[NonParallelizable]
public sealed class TlsTests : IDisposable
{
    private readonly TestCa _ca = new();
    private string _cert = "";
    private string _key = "";

    [OneTimeSetUp]
    public void MakeCertificate()
    {
        var issued = _ca.Issue("mx", "mx.qremote.test");
        _cert = issued.CertificateFile;
        _key = issued.KeyFile;
    }

    public void Dispose() => _ca.Dispose();

    [Test]
    public async Task Starttls_when_postfix_offers_it_and_nothing_in_plain_text_after()
    {
        using var postfix = PostfixServer.Start(
            ("smtpd_tls_security_level", "may"), ("smtpd_tls_cert_file", _cert), ("smtpd_tls_key_file", _key),
            ("smtpd_tls_received_header", "yes"), ("smtpd_tls_loglevel", "1"));
        using var recorder = new WireRecorder(postfix.EndPoint);
        var transcript = new StringWriter();
        var report = await Harness.DeliverAsync("[127.0.0.1]", "s@qremote.test", ["r@example.test"],
            Encoding.UTF8.GetBytes("Subject: secret subject\n\nsecret body\n"), new() { SmtpPort = recorder.EndPoint.Port });
        recorder.WaitForSessions();
        Assert.That(report, Does.StartWith("r\\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 Ok"));
        var client = Encoding.Latin1.GetString(recorder.ClientBytes);
        Assert.That(client, Does.StartWith("EHLO qremote.test\r\nSTARTTLS\r\n"));
        Assert.That(client, Does.Not.Contain("MAIL FROM").And.Not.Contain("secret"), "after STARTTLS everything is encrypted");
        postfix.WaitForLog("TLS connection established");
    }

    private static async Task ServeAsync(ScriptedSession s, bool offerTls, Func<ScriptedSession, Task> onStartTls)
    {
        await s.SendAsync("220 scripted\r\n");
        string? line;
        while ((line = await s.ReadLineAsync()) is not null)
        {
            if (line.StartsWith("EHLO", StringComparison.Ordinal))
            {
                await s.SendAsync(offerTls ? "250-scripted\r\n250-STARTTLS\r\n250 PIPELINING\r\n" : "250-scripted\r\n250 PIPELINING\r\n");
            }
            else if (line == "STARTTLS")
            {
                await onStartTls(s);
                return;
            }
            else if (line == "DATA")
            {
                await s.SendAsync("354 go\r\n");
                await s.ReadDataAsync();
                await s.SendAsync("250 2.0.0 queued in plain text\r\n");
            }
            else if (line == "QUIT")
            {
                return;
            }
            else
            {
                await s.SendAsync("250 ok\r\n");
            }
        }
    }

    [TestCase("garbage")]
    [TestCase("close")]
    [TestCase("refused")]
    public async Task A_failed_handshake_retries_the_same_address_once_without_tls(string failure)
    {
        var sessions = 0;
        using var server = new ScriptedSmtpServer(IPAddress.Parse("127.0.0.4"), 0, s =>
            ServeAsync(s, offerTls: Interlocked.Increment(ref sessions) == 1, async t =>
            {
                if (failure == "refused")
                {
                    await t.SendAsync("454 4.7.0 TLS not available due to local problem\r\n");
                    await t.ReadLineAsync();
                    return;
                }

                await t.SendAsync("220 2.0.0 go ahead\r\n");
                if (failure == "garbage")
                {
                    await t.SendAsync("this is not a TLS server hello\r\n");
                }
            }));
        var report = await Harness.DeliverAsync("[127.0.0.4]", "s@qremote.test", ["r@example.test"], "Subject: x\n\nb\n",
            new() { SmtpPort = server.EndPoint.Port });
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.4 accepted message.\nRemote host said: 250 2.0.0 queued in plain text\nTLS: none, the handshake failed\n\\0"));
        Assert.That(sessions, Is.EqualTo(2), "one failed TLS session, one plain retry");
    }

    [Test]
    public async Task A_handshake_that_fails_twice_is_a_deferral_never_a_bounce()
    {
        using var server = new ScriptedSmtpServer(IPAddress.Parse("127.0.0.4"), 0, async s =>
        {
            await s.SendAsync("220 scripted\r\n");
            await s.ReadLineAsync();
            // Dies as soon as anything is asked after EHLO: the plain retry fails too.
        });
        var report = await Harness.DeliverAsync("[127.0.0.4]", "s@qremote.test", ["r@example.test"], "Subject: x\n\nb\n",
            new() { SmtpPort = server.EndPoint.Port });
        Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.4 but connection died. (#4.4.2)\n\\0"));
    }
}
